"""Guards that stop a run which cannot give a meaningful result, with the reason, instead of recording it
as finished.

- `DivergenceGuard`: beside the model's NaN guard (a non-finite loss raises FloatingPointError in
  training_step), a finite loss that explodes is divergence too: Adam with lr=1e6 gives losses of
  1e9-1e12, an untrained-looking model, and sometimes a lucky mAP that tops a sweep table. The run fails
  when a step's loss exceeds an absolute cap, or a multiple of the mean loss of the first epoch.
- `TrainingStepsGuard`: a training loader that yields no batch (a batch size larger than the training set,
  with drop_last) trains nothing: Lightning ends fit at once, and the untrained model would be tested and
  recorded. The run fails right there, before any test, naming the numbers and the fix.

Both raise inside `trainer.fit`, so train.py records the run as failed with the message as its error.
"""

import pytorch_lightning as pl
import torch


class TrainingDiverged(RuntimeError):
    """The training loss left any sensible range (see DivergenceGuard)."""


class DivergenceGuard(pl.Callback):
    """Fail when a training step's loss is above `max_loss`, or above `max_ratio` x the first epoch's mean loss.

    The first-epoch mean is kept in checkpoints, so a resumed run compares with the same reference. Under DDP
    the decision is shared (any rank diverged -> every rank stops), so no rank waits for a dead one.
    """

    def __init__(self, max_loss: float = 1e3, max_ratio: float = 10.0):
        super().__init__()
        if max_loss <= 0 or max_ratio <= 1:
            raise ValueError(f"DivergenceGuard needs max_loss > 0 and max_ratio > 1, got {max_loss} and {max_ratio}")
        self.max_loss, self.max_ratio = float(max_loss), float(max_ratio)
        self.reference: float | None = None  # mean training loss of the first epoch
        self._sum, self._count = 0.0, 0

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs, batch, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if not isinstance(loss, torch.Tensor):
            return
        value = float(loss.detach())
        if self.reference is None:
            self._sum, self._count = self._sum + value, self._count + 1
        reason = self.reason(value)
        if trainer.strategy.reduce_boolean_decision(reason is not None, all=False):
            lr = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else float("nan")
            raise TrainingDiverged(
                f"training diverged at epoch {trainer.current_epoch}, step {trainer.global_step}: "
                f"{reason or 'another rank saw a diverging loss'}. Lower optimizer.lr (the learning rate is now "
                f"{lr:g}), add warm-up or gradient clipping (trainer.gradient_clip_val), or loosen "
                "callbacks.divergence_guard (max_loss, max_ratio)."
            )

    def reason(self, value: float) -> str | None:
        """Why `value` counts as divergence, or None."""
        if value > self.max_loss:
            return f"the loss {value:.4g} is above max_loss={self.max_loss:g}"
        if self.reference is not None and value > self.max_ratio * self.reference:
            return (
                f"the loss {value:.4g} is above max_ratio={self.max_ratio:g} x the first epoch's mean loss "
                f"{self.reference:.4g}"
            )
        return None

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.reference is None and self._count:
            self.reference = self._sum / self._count

    def state_dict(self) -> dict:
        return {"reference": self.reference}

    def load_state_dict(self, state_dict: dict) -> None:
        self.reference = state_dict.get("reference")


class TrainingStepsGuard(pl.Callback):
    """Fail when fit ends without a step because the training loader yields no batch (unless limit_train_batches=0)."""

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning ends fit at once, without any train hook, when the loader is empty (0 steps, nothing trained)
        if trainer.num_training_batches != 0 or trainer.global_step > 0 or trainer.limit_train_batches == 0:
            return
        loader = trainer.train_dataloader
        dataset = getattr(loader, "dataset", None)
        batch_size = getattr(loader, "batch_size", None)
        sampler = getattr(loader, "sampler", None)
        total = len(dataset) if dataset is not None else "?"
        per_device = len(sampler) if sampler is not None and hasattr(sampler, "__len__") else total
        raise ValueError(
            f"training would run 0 steps: the training loader has {per_device} images for this device "
            f"({total} in the training set, {trainer.world_size} device(s)) and data.batch_size={batch_size} with "
            "drop_last=True, so every batch is incomplete and dropped. Set data.batch_size to at most "
            f"{per_device} (the batch size is per device), or train on more data."
        )
