"""Train the head alone for the first epochs of fine-tuning: Torchreid's `fixbase_epoch`.

With a pretrained backbone and a freshly initialised head (neck, classifier), the first updates of the head
are large and noisy; letting them flow into the backbone damages the pretrained features. Torchreid's
recipes therefore train only the new layers for `fixbase_epoch` epochs (10 in its OSNet ImageNet recipe),
then everything. Here, for epochs 0 .. `epochs` - 1, the backbone runs in eval mode (its BatchNorm layers
normalise with, and keep, the pretrained statistics, as in Torchreid) and its gradients are dropped before
every optimiser step, so the optimiser leaves it exactly as it was (Adam and SGD skip a parameter without
gradient, weight decay included). The head, partition and classifier train as usual.

Why not `requires_grad=False` (Lightning's `BaseFinetuning.freeze`): DistributedDataParallel registers only
the parameters that require gradients when it wraps the model, so a backbone unfrozen later would train
with gradients that are never averaged across GPUs (Lightning issue #20340). Dropping the gradients after
the (synchronised) backward pass is DDP-safe, at the price of computing them during the frozen epochs.
The state is a function of the epoch alone, so a resumed run freezes exactly when a fresh one would.
"""

import logging

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback
from torch.optim import Optimizer

log = logging.getLogger(__name__)


class FreezeBackbone(Callback):
    """Keep `pl_module.backbone` fixed (eval mode, no updates) during the first `epochs` training epochs."""

    def __init__(self, epochs: int = 0):
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"callbacks.freeze_backbone.epochs must be a whole number >= 0, got {epochs!r}")
        self.epochs = epochs

    def frozen(self, trainer: "pl.Trainer") -> bool:
        return trainer.current_epoch < self.epochs

    def on_train_epoch_start(self, trainer: "pl.Trainer", pl_module: "pl.LightningModule") -> None:
        frozen = self.frozen(trainer)
        pl_module.backbone.train(not frozen)
        if frozen and trainer.current_epoch == 0:
            log.info("Backbone frozen for the first %d epoch(s): only the head and classifier train", self.epochs)
        elif self.epochs and trainer.current_epoch == self.epochs:
            log.info("Epoch %d: backbone unfrozen, the whole network trains", trainer.current_epoch)

    def on_before_optimizer_step(
        self, trainer: "pl.Trainer", pl_module: "pl.LightningModule", optimizer: Optimizer
    ) -> None:
        if self.frozen(trainer):
            for parameter in pl_module.backbone.parameters():
                parameter.grad = None
