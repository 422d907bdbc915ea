"""Progress that reads in a log file: one line per epoch when the output is not a terminal.

Rich's bar redraws one line in place; in a SLURM job log, CI, or `| tee` it prints nothing until training
ends. `progress_bar()` (the `callbacks.progress_bar` config) keeps the rich bar on a terminal and otherwise
gives `EpochLines`, which prints after every training epoch (validation included):

    epoch 3/10  steps 45 (135)  loss 4.1234  acc 0.2100  412.3 img/s  elapsed 0:02:13  ETA 0:05:10  val R1 0.45 ...

steps = this epoch's optimizer steps (all epochs' in brackets); img/s over the epoch's training batches
(validation excluded); ETA = the mean epoch time so far x the epochs left.
"""

import sys
import time
from datetime import timedelta

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ProgressBar, RichProgressBar

from reid_lightning.metrics.names import SHORT_LABELS

SHOWN_METRICS = ("rank1", "mAP")  # the validation scores a line shows (all of them go to the loggers)


def progress_bar(stream=None) -> ProgressBar:
    """The rich bar when `stream` (default stdout) is a terminal, else one line per epoch."""
    stream = stream or sys.stdout
    return RichProgressBar() if stream.isatty() else EpochLines(stream)


def clock(seconds: float) -> str:
    """Seconds as h:mm:ss."""
    return str(timedelta(seconds=round(seconds)))


class EpochLines(ProgressBar):
    """One line per training epoch on `stream` (rank zero only)."""

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream
        self.enabled = True
        self.fit_start = self.batch_start = self.train_time = 0.0
        self.first_epoch = 0
        self.images = self.steps_at_start = 0
        self.validated = False

    def disable(self) -> None:
        self.enabled = False

    def enable(self) -> None:
        self.enabled = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.fit_start = time.perf_counter()
        self.first_epoch = trainer.current_epoch

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.train_time, self.images, self.validated = 0.0, 0, False
        self.steps_at_start = trainer.global_step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.batch_start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self.train_time += time.perf_counter() - self.batch_start
        self.images += len(batch["image"]) if isinstance(batch, dict) else 0

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.validated = self.validated or not trainer.sanity_checking

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not (self.enabled and trainer.is_global_zero):
            return
        print(self.line(trainer), file=self.stream or sys.stdout, flush=True)

    def line(self, trainer: pl.Trainer) -> str:
        """This epoch's line, from the trainer's epoch metrics and this callback's clocks."""
        now = time.perf_counter()
        epoch, total = trainer.current_epoch + 1, trainer.max_epochs
        metrics = trainer.callback_metrics
        parts = [
            f"epoch {epoch}/{total}" if total and total > 0 else f"epoch {epoch}",
            f"steps {trainer.global_step - self.steps_at_start} ({trainer.global_step})",
        ]
        for key, label in (("train/loss_epoch", "loss"), ("train/acc", "acc")):
            if key in metrics:
                parts.append(f"{label} {float(metrics[key]):.4f}")
        if self.train_time > 0:
            parts.append(f"{self.images / self.train_time:.1f} img/s")
        elapsed = now - self.fit_start
        parts.append(f"elapsed {clock(elapsed)}")
        done = epoch - self.first_epoch  # epochs run by this process (a resumed run starts later)
        if total and total > 0 and done > 0:
            parts.append(f"ETA {clock(elapsed / done * (total - epoch))}")
        if self.validated:
            scores = [
                f"{SHORT_LABELS[k]} {float(metrics[f'val/{k}']):.4f}" for k in SHOWN_METRICS if f"val/{k}" in metrics
            ]
            if scores:
                parts.append("val " + " ".join(scores))
        return "  ".join(parts)
