"""Loading pretrained backbone weights from a local file (.pth/.pt/.bin/.pth.tar or .safetensors).

Our machines have no network: weights are downloaded elsewhere and passed as
`backbone.pretrained=/path/to/file`; `~` and environment variables in the path are expanded when the
backbone is built (a preset can say `pretrained: $OSNET_IMAGENET_WEIGHTS`; unset, the error names it).
The file is read with timm's checkpoint reader (plain state dicts, {"state_dict": ...} / {"model": ...}
wrappers, DataParallel "module." prefixes; pickles are read with `weights_only`, allowing the numpy
scalars that Torchreid checkpoints carry beside the weights) and must fit the backbone key for key and
shape for shape, in one of these layouts:

- the backbone's own: ours, or timm's for timm models (timm's ImageNet files);
- a Lightning checkpoint of this suite: its "backbone." keys are taken;
- Torchreid's for our OSNet and NASNet (torchreid_layout.py): the keys are renamed to ours.

Modules a backbone option adds to the architecture (`model.fresh_modules`: ResNet-50's non-local
blocks) are not asked of the file: they keep their initialisation. Keys of the original network's head
(an ImageNet or Torchreid classifier, Torchreid OSNet's fc) are dropped and logged. A file of another
architecture or width fails with what it looks like and the fix.
"""

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from timm.models import load_state_dict
from torch import nn

from reid_lightning.models.backbones.torchreid_layout import KeyLayout, find_layout

log = logging.getLogger(__name__)

BN_COUNTERS = "num_batches_tracked"  # absent from many ported checkpoints; harmless to leave at 0
NUMPY_SCALARS = [  # what a numpy number beside the state dict pickles to (e.g. Torchreid's "rank1"): data, no code
    np.dtype,
    np._core.multiarray.scalar,
    (np._core.multiarray.scalar, "numpy.core.multiarray.scalar"),  # numpy 1.x
    *(type(np.dtype(kind)) for kind in ("float64", "float32", "int64", "int32", "bool")),
]


def _examples(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def weights_path(path: str | Path) -> Path:
    """`path` with `~` and `$VARIABLE`s expanded; ValueError naming a variable that is not set."""
    expanded = os.path.expandvars(os.path.expanduser(str(path)))
    unset = re.findall(r"\$\{?(\w+)", expanded)
    if unset:
        raise ValueError(
            f"backbone.pretrained={path} names the environment variable {unset[0]}, which is not set: "
            f"export {unset[0]}=/path/to/weights.pth, or pass backbone.pretrained=/path/to/weights.pth"
        )
    return Path(expanded)


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict in weights file `path` (wrappers and "module." prefixes removed); clear errors."""
    path = weights_path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights file {path} does not exist; pass "
            "backbone.pretrained=/path/to/weights.pth|.safetensors, or false"
        )
    try:
        with torch.serialization.safe_globals(NUMPY_SCALARS):
            state = load_state_dict(str(path), use_ema=False)
    except Exception as err:
        raise ValueError(
            f"could not read pretrained weights {path} ({type(err).__name__}: {err}); "
            "expected a PyTorch state dict (.pth/.pt/.bin) or a .safetensors file"
        ) from err
    if any(k.startswith("backbone.") for k in state):  # a Lightning checkpoint of the whole ReIDModule
        state = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    return state


def _foreign(model: nn.Module, path: Path, state: dict, own: Mapping) -> tuple[dict, list[str], str, str]:
    """(state in our key names, dropped head keys, what the file is, the backbone options it needs) for a
    Torchreid file; the state unchanged and empty strings otherwise."""
    try:
        layout: KeyLayout | None = find_layout(state, set(own))
    except ValueError as err:
        raise ValueError(f"pretrained weights {path}: {err}") from None
    if layout is None:
        return state, [], "", ""
    variant, options = layout.variant(state)
    what = f"a {layout.name} file ({variant})"
    fix = " ".join([f"backbone={layout.backbone}", *(f"backbone.{k}={v}" for k, v in options.items())])
    if not isinstance(model, layout.architecture):
        raise ValueError(
            f"pretrained weights {path} look like {what}, which does not fit backbone "
            f"{type(model).__name__}: use {fix}, or a weights file of {type(model).__name__}"
        )
    state, dropped = layout.convert(state)
    return state, dropped, what, fix


def load_weights(model: nn.Module, path: str | Path, classifier_prefixes: tuple[str, ...] = ()) -> None:
    """Load `path` into `model` in place; raise ValueError naming the file when it does not fit."""
    path = weights_path(path)
    state = read_state_dict(path)
    own = model.state_dict()
    state, dropped, what, fix = _foreign(model, path, state, own)
    dropped += [k for k in state if k not in own and k.startswith(classifier_prefixes)]
    unexpected = [k for k in state if k not in own and k not in dropped]
    fresh = tuple(f"{name}." for name in getattr(model, "fresh_modules", ()))  # added modules, e.g. non-local blocks
    missing = [k for k in own if k not in state and not k.endswith(BN_COUNTERS) and not k.startswith(fresh)]
    mismatched = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in state
        if k in own and state[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} backbone keys missing from the file: {_examples(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_examples(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches: {_examples(mismatched)}")
    if problems:
        looks = f" The file looks like {what}: use {fix}." if what else ""
        raise ValueError(
            f"pretrained weights {path} do not fit backbone {type(model).__name__}: "
            + "; ".join(problems)
            + ". Is it a checkpoint of this architecture (and width)?"
            + looks
        )
    loaded = {k: v for k, v in state.items() if k in own}
    model.load_state_dict(loaded, strict=False)
    log.info(
        "Loaded %d tensors from %s%s%s",
        len(loaded),
        path,
        f" ({what}, renamed to our keys)" if what else "",
        f"; dropped the original head's keys: {_examples(dropped)}" if dropped else "",
    )
