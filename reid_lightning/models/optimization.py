"""Optimisers and learning-rate schedules by name, for the `optimizer=` and `scheduler=` config groups.

Schedules step once per epoch. `plateau` is the thesis's ReduceLROnPlateau (chapter 4), `step` its
StepLR (chapter 3), `warmup_cosine` the modern recipe (linear warm-up, then cosine decay).
"""

from collections.abc import Iterable

import torch
from torch.optim import lr_scheduler


def build_optimizer(params: Iterable, name: str = "sgd", lr: float = 0.1, weight_decay: float = 5e-4,
                    momentum: float = 0.9, nesterov: bool = False, betas: tuple = (0.9, 0.999)):
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
    raise ValueError(f"optimizer.name={name!r} is unknown; use one of sgd, adam, adamw")


def build_scheduler(optimizer, name: str = "none", step_size: int = 10, gamma: float = 0.1,
                    factor: float = 0.1, patience: int = 4, monitor: str = "train/loss_epoch",
                    mode: str = "min", warmup_epochs: int = 0, max_epochs: int = 30, min_lr: float = 0.0):
    """Lightning lr_scheduler dict for `name`, or None for a constant learning rate."""
    if name == "none":
        return None
    if name == "step":
        return {"scheduler": lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma), "interval": "epoch"}
    if name == "plateau":
        plateau = lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=factor, patience=patience)
        return {"scheduler": plateau, "monitor": monitor, "interval": "epoch"}
    if name == "warmup_cosine":
        cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, max_epochs - warmup_epochs), eta_min=min_lr)
        if warmup_epochs > 0:
            warmup = lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=warmup_epochs)
            cosine = lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_epochs])
        return {"scheduler": cosine, "interval": "epoch"}
    raise ValueError(f"scheduler.name={name!r} is unknown; use one of none, step, plateau, warmup_cosine")
