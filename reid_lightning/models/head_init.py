"""How the head's fully connected layers (the neck's fc and the classifier) start: `head_init` by name.

`pytorch` leaves PyTorch's defaults (Linear: Kaiming-uniform weights, uniform bias), as the suite always
did. `torchreid` is Torchreid's `init_params` for OSNet (torchreid/models/osnet.py): every Linear drawn
from N(0, 0.01) with zero bias, every BatchNorm1d at weight 1, bias 0, which its fc (Linear 512 + BN +
ReLU) and classifier get; its convolutions' Kaiming (fan-out) initialisation is OSNet.reset_parameters.
"""

from collections.abc import Callable

from torch import nn

TORCHREID_LINEAR_STD = 0.01  # torchreid osnet.py init_params: nn.init.normal_(m.weight, 0, 0.01)


def _pytorch(module: nn.Module) -> None:
    """PyTorch's own initialisation, untouched."""


def _torchreid(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, TORCHREID_LINEAR_STD)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d) and m.affine:
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


HEAD_INITS: dict[str, Callable[[nn.Module], None]] = {"pytorch": _pytorch, "torchreid": _torchreid}


def init_head(name: str, *modules: nn.Module) -> None:
    """Initialise the Linear / BatchNorm1d layers of `modules` (neck, classifier) by the scheme `name`."""
    if name not in HEAD_INITS:
        raise ValueError(f"head_init={name!r} is unknown; choose one of {', '.join(HEAD_INITS)}")
    for module in modules:
        HEAD_INITS[name](module)
