"""Metric losses on the retrieval embedding, by name, for `loss.terms` in conf/loss/.

Each is an nn.Module `forward(embedding (B, D), labels (B,)) -> scalar`, built by `create_loss`:

    triplet           batch-hard triplet (Hermans et al. 2017); margin 0 = soft margin, as fast-reid's SBS
    weighted_triplet  AGW's weighted regularised triplet (Ye et al. 2021): softmax-weighted positives and
                      negatives, soft margin, no margin to tune
    circle            pair-based circle loss (Sun et al. 2020) on cosine similarities
    center            center loss (Wen et al. 2016) as BoT uses it, with its own SGD step on the centres

A loss whose parameters are updated by its own rule (center) says so with `owns_step = True` and
has `own_step(weight)`: the module leaves its parameters out of the optimiser and calls that after
backward, before the optimiser's step. The margin softmaxes (CosFace, ArcFace, fast-reid's
CircleSoftmax) change the classifier's logits, not the embedding: margins.py, used by classifier.py.
"""

import inspect

from torch import nn

# isort: off
from reid_lightning.models.losses import triplet, weighted_triplet, circle, center  # noqa: F401  registers them

# isort: on
from reid_lightning.models.losses.registry import LOSSES

PROVIDED = ("feature_dim", "num_classes")  # what the module passes; the config gives the rest


def create_loss(name: str, feature_dim: int, num_classes: int, **options) -> nn.Module:
    """Metric loss `name` with its options from loss.terms.<name> (the weight is the module's, not here)."""
    LOSSES.check_options(name, options, ignored=PROVIDED, hint=" (plus weight)")
    accepted = LOSSES.options(name)
    required = [
        p.name
        for p in inspect.signature(LOSSES.get(name)).parameters.values()
        if p.default is p.empty and p.name in accepted - set(PROVIDED) - set(options)
    ]
    if required:
        raise ValueError(
            f"loss.terms.{name} needs {', '.join(required)}; set loss.terms.{name}.{required[0]}=... "
            "(the presets in conf/loss/ give every option)"
        )
    provided = {k: v for k, v in {"feature_dim": feature_dim, "num_classes": num_classes}.items() if k in accepted}
    return LOSSES.build(name, **provided, **options)
