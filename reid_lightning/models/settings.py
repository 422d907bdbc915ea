"""The loss and evaluation settings of a ReIDModule (the `loss=` and `evaluation=` config groups).

Their defaults are those of conf/loss/cross_entropy.yaml and conf/evaluation/default.yaml, so a module built
from Python behaves like the default run; tests/test_config_defaults.py fails when the two disagree. An
unknown key fails naming the group and the known keys, and a renamed key names its new name.
"""

from dataclasses import asdict, dataclass, field, fields

from reid_lightning.metrics.distance import DEFAULT_MEMORY_BUDGET
from reid_lightning.metrics.reranking import RERANK_DEFAULTS
from reid_lightning.registry import close_matches_hint

RENAMED = {"evaluation.metric": "evaluation.distance"}  # old key -> new key (checkpoints are upgraded on read)


def from_options(cls, options: dict | None, group: str):
    """`cls(**options)`, with the dataclass's defaults for what `options` leaves out."""
    options = dict(options or {})
    known = [f.name for f in fields(cls)]
    for key in list(options):
        new_key = RENAMED.get(f"{group}.{key}")
        if new_key and options[key] is None:
            del options[key]  # the YAML's placeholder of a renamed key, left unset
        elif new_key:
            raise ValueError(f"{group}.{key} was renamed {new_key}: write {new_key}={options[key]} instead")
        elif key not in known:
            hint = close_matches_hint(key, known)
            raise ValueError(f"unknown option {group}.{key}={options[key]!r}; known: {', '.join(known)}{hint}")
    return cls(**options)


METRIC_FEATURES = ("before", "after")  # the metric losses' embedding: before or after the classifier's BNNeck


@dataclass(frozen=True)
class LossSettings:
    label_smoothing: float = 0.1  # cross-entropy label smoothing
    triplet_weight: float = 0.0  # batch-hard triplet term on the embedding; 0 = off
    triplet_margin: float = 0.3  # its hinge margin
    metric_feature: str = "before"  # the metric losses' embedding: before or after the BNNeck
    terms: dict = field(default_factory=dict)  # metric-loss terms by name (models/losses/), each with a weight

    def __post_init__(self):
        if self.metric_feature not in METRIC_FEATURES:
            raise ValueError(f"loss.metric_feature={self.metric_feature!r}; choose one of {', '.join(METRIC_FEATURES)}")


@dataclass(frozen=True)
class EvaluationSettings:
    distance: str = "euclidean"  # euclidean (squared L2) | cosine
    normalize: bool = False  # L2-normalise embeddings (each part, with visibility) before ranking
    flip: bool = False  # flip test-time augmentation
    rerank: bool = False  # k-reciprocal re-ranking
    rerank_k1: int = RERANK_DEFAULTS["k1"]  # k-reciprocal neighbours
    rerank_k2: int = RERANK_DEFAULTS["k2"]  # neighbours of the query expansion
    rerank_lambda: float = RERANK_DEFAULTS["lambda_value"]  # weight of the original distance
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET  # the evaluator's peak memory
    visibility: bool = False  # rank by the parts visible in both images
    visibility_threshold: float = 0.5  # the visibility score from which a part counts as visible

    def metric_options(self) -> dict:
        """The RetrievalMetric keywords (everything but flip, which the model's embedding applies)."""
        return {k: v for k, v in asdict(self).items() if k != "flip"}
