"""Loading pretrained backbone weights from a local file (.pth/.pt/.bin or .safetensors).

Our machines have no network: weights are downloaded elsewhere and passed as
`backbone.pretrained=/path/to/file`. The file is read with timm's checkpoint reader (plain state
dicts, {"state_dict": ...} / {"model": ...} wrappers, DataParallel "module." prefixes) and must fit
the backbone key for key and shape for shape. The only keys it may carry beyond the backbone are
classifier keys (an ImageNet or Torchreid head), which are ignored and reported. A Lightning
checkpoint of this suite also works: its "backbone." keys are taken.
"""

import logging
from pathlib import Path

from timm.models import load_state_dict
from torch import nn

log = logging.getLogger(__name__)

BN_COUNTERS = "num_batches_tracked"  # absent from many ported checkpoints; harmless to leave at 0


def _examples(keys: list[str], n: int = 5) -> str:
    return ", ".join(keys[:n]) + (f", ... ({len(keys)} in all)" if len(keys) > n else "")


def load_weights(model: nn.Module, path: str | Path, classifier_prefixes: tuple[str, ...] = ()) -> None:
    """Load `path` into `model` in place; raise ValueError naming the file when it does not fit."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file {path} does not exist; pass "
                                "backbone.pretrained=/path/to/weights.pth|.safetensors, or false")
    try:
        state = load_state_dict(str(path), use_ema=False)
    except Exception as err:
        raise ValueError(f"could not read pretrained weights {path} ({type(err).__name__}: {err}); "
                         "expected a PyTorch state dict (.pth/.pt/.bin) or a .safetensors file") from err
    if any(k.startswith("backbone.") for k in state):  # a Lightning checkpoint of the whole ReIDModule
        state = {k.removeprefix("backbone."): v for k, v in state.items() if k.startswith("backbone.")}
    own = model.state_dict()
    ignored = [k for k in state if k not in own and k.startswith(classifier_prefixes)]
    unexpected = [k for k in state if k not in own and k not in ignored]
    missing = [k for k in own if k not in state and not k.endswith(BN_COUNTERS)]
    mismatched = [f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
                  for k in state if k in own and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} backbone keys missing from the file: {_examples(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_examples(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches: {_examples(mismatched)}")
    if problems:
        raise ValueError(f"pretrained weights {path} do not fit backbone {type(model).__name__}: "
                         + "; ".join(problems) + ". Is it a checkpoint of this architecture (and width)?")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    log.info("Loaded %d tensors from %s%s", len(state) - len(ignored), path,
             f"; ignored classifier keys: {_examples(ignored)}" if ignored else "")
