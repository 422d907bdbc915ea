"""Optimisers and learning-rate schedules by name, for the `optimizer=` and `scheduler=` config groups.

Each is a function registered where it is defined; its keyword arguments are the options its YAML file
may set (an unknown option is an error naming the allowed ones), with the YAML's defaults
(tests/test_config_defaults.py). Schedules step once per epoch.
`plateau` is the thesis's ReduceLROnPlateau (chapter 4), `step` its StepLR (chapter 3),
`warmup_cosine` the modern recipe (linear warm-up, then cosine decay; with `delay_epochs`, fast-reid's SBS),
`warmup_multistep` Bag of Tricks' (linear warm-up over 10 epochs from 0.1x, then x0.1 at epochs 40 and 70).
"""

import bisect
from collections.abc import Iterable

import torch
from torch.optim import lr_scheduler

from reid_lightning.registry import Registry

OPTIMIZERS = Registry("optimizer", config_key="optimizer.name")
SCHEDULERS = Registry("scheduler", config_key="scheduler.name")


@OPTIMIZERS.register("sgd")
def sgd(
    params: Iterable, lr: float = 0.05, weight_decay: float = 5e-4, momentum: float = 0.9, nesterov: bool = True
) -> torch.optim.Optimizer:
    return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)


@OPTIMIZERS.register("adam")
def adam(
    params: Iterable, lr: float = 1e-3, weight_decay: float = 5e-4, betas: tuple = (0.9, 0.999), amsgrad: bool = False
) -> torch.optim.Optimizer:
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay, amsgrad=amsgrad)


@OPTIMIZERS.register("adamw")
def adamw(
    params: Iterable, lr: float = 1e-3, weight_decay: float = 5e-4, betas: tuple = (0.9, 0.999), amsgrad: bool = False
) -> torch.optim.Optimizer:
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
def plateau(
    optimizer, factor: float = 0.1, patience: int = 4, monitor: str = "train/loss_epoch", mode: str = "min"
) -> dict:
    scheduler = lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=factor, patience=patience)
    return {"scheduler": scheduler, "monitor": monitor, "interval": "epoch"}


@SCHEDULERS.register("warmup_cosine")
def warmup_cosine(
    optimizer,
    max_epochs: int,
    warmup_epochs: int = 2,
    min_lr: float = 0.0,
    warmup_factor: float = 0.01,
    delay_epochs: int = 0,
) -> dict:
    """Linear warm-up from warmup_factor x lr (reaching lr at epoch warmup_epochs), the base lr until epoch
    delay_epochs (fast-reid's DELAY_EPOCHS; the warm-up runs inside it), then cosine decay to min_lr at max_epochs."""
    start = max(warmup_epochs, delay_epochs)  # the first epoch of the cosine
    cosine = lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, max_epochs - start), eta_min=min_lr)
    phases, milestones = [], []
    if warmup_epochs > 0:
        phases.append(lr_scheduler.LinearLR(optimizer, start_factor=warmup_factor, total_iters=warmup_epochs))
        milestones.append(warmup_epochs)
    if delay_epochs > warmup_epochs:
        phases.append(lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0))
        milestones.append(delay_epochs)
    if phases:
        cosine = lr_scheduler.SequentialLR(optimizer, [*phases, cosine], milestones=milestones)
    return {"scheduler": cosine, "interval": "epoch"}


class WarmupMultiStepFactor:
    """lr factor of epoch e (0-based) of Bag of Tricks' schedule: linear warm-up from warmup_factor, reaching
    1 at epoch warmup_epochs - 1 (BoT's paper: lr = base * t / 10 for epochs t = 1..10), times gamma for every
    milestone <= e (BoT: x0.1 from the 41st and the 71st epoch). A class, not a lambda, so it pickles."""

    def __init__(self, warmup_epochs: int, warmup_factor: float, milestones: list[int], gamma: float):
        self.warmup_epochs, self.warmup_factor = warmup_epochs, warmup_factor
        self.milestones, self.gamma = sorted(milestones), gamma

    def __call__(self, epoch: int) -> float:
        warm = 1.0
        if epoch < self.warmup_epochs - 1:
            warm = self.warmup_factor + (1 - self.warmup_factor) * epoch / (self.warmup_epochs - 1)
        return warm * self.gamma ** bisect.bisect_right(self.milestones, epoch)


@SCHEDULERS.register("warmup_multistep")
def warmup_multistep(
    optimizer, warmup_epochs: int = 10, warmup_factor: float = 0.1, milestones: tuple = (40, 70), gamma: float = 0.1
) -> dict:
    factor = WarmupMultiStepFactor(warmup_epochs, warmup_factor, list(milestones), gamma)
    return {"scheduler": lr_scheduler.LambdaLR(optimizer, factor), "interval": "epoch"}


def build_scheduler(optimizer, name: str, **options) -> dict | None:
    """Lightning lr_scheduler dict for `name`, or None for a constant learning rate."""
    return SCHEDULERS.build(name, optimizer=optimizer, **options)
