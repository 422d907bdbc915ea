"""Optimisers and learning-rate schedules by name, for the `optimizer=` and `scheduler=` config groups.

Each is a function registered where it is defined; its keyword arguments are the options its YAML file
may set (an unknown option is an error naming the allowed ones), with the YAML's defaults
(tests/test_config_defaults.py). Schedules step once per epoch.
`plateau` is the thesis's ReduceLROnPlateau (chapter 4), `step` its StepLR (chapter 3),
`warmup_cosine` the modern recipe (linear warm-up, then cosine decay).
"""

from collections.abc import Iterable

import torch
from torch.optim import lr_scheduler

from reid_lightning.registry import Registry

OPTIMIZERS = Registry("optimizer", config_key="optimizer.name")
SCHEDULERS = Registry("scheduler", config_key="scheduler.name")


@OPTIMIZERS.register("sgd")
def sgd(params: Iterable, lr: float = 0.05, weight_decay: float = 5e-4, momentum: float = 0.9,
        nesterov: bool = True) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


@OPTIMIZERS.register("adam")
def adam(params: Iterable, lr: float = 1e-3, weight_decay: float = 5e-4, betas: tuple = (0.9, 0.999),
         amsgrad: bool = False) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, amsgrad=amsgrad)


@OPTIMIZERS.register("adamw")
def adamw(params: Iterable, lr: float = 1e-3, weight_decay: float = 5e-4, betas: tuple = (0.9, 0.999),
          amsgrad: bool = False) -> torch.optim.Optimizer:
    return torch.optim.AdamW(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, amsgrad=amsgrad)


def build_optimizer(params: Iterable, name: str, **options) -> torch.optim.Optimizer:
    return OPTIMIZERS.build(name, params=params, **options)


@SCHEDULERS.register("none")
def constant(optimizer) -> None:
    return None


@SCHEDULERS.register("step")
def step(optimizer, step_size: int = 10, gamma: float = 0.1) -> dict:
    return {"scheduler": lr_scheduler.StepLR(optimizer, step_size=step_size, gamma=gamma), "interval": "epoch"}


@SCHEDULERS.register("plateau")
def plateau(optimizer, factor: float = 0.1, patience: int = 4, monitor: str = "train/loss_epoch",
            mode: str = "min") -> dict:
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=factor, patience=patience)
    return {"scheduler": scheduler, "monitor": monitor, "interval": "epoch"}


@SCHEDULERS.register("warmup_cosine")
def warmup_cosine(optimizer, max_epochs: int, warmup_epochs: int = 2, min_lr: float = 0.0) -> dict:
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, max_epochs - warmup_epochs), eta_min=min_lr)
    if warmup_epochs > 0:
        warmup = lr_scheduler.LinearLR(optimizer, start_factor=0.01, total_iters=warmup_epochs)
        cosine = lr_scheduler.SequentialLR(optimizer, [warmup, cosine], milestones=[warmup_epochs])
    return {"scheduler": cosine, "interval": "epoch"}


def build_scheduler(optimizer, name: str, **options) -> dict | None:
    """Lightning lr_scheduler dict for `name`, or None for a constant learning rate."""
    return SCHEDULERS.build(name, optimizer=optimizer, **options)
