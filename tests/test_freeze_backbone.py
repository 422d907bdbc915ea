"""FreezeBackbone: the backbone (weights and BN statistics) is untouched during the first `epochs` epochs while
the classifier trains, and trains afterwards; a bad epoch count is refused."""

import pytest
import pytorch_lightning as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from reid_lightning.callbacks.freeze_backbone import FreezeBackbone


class TinyReID(pl.LightningModule):
    """backbone (conv + BN) -> global pool -> classifier, trained with Adam; records the backbone's mode."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.classifier = nn.Linear(8, 4)
        self.backbone_training: list[bool] = []

    def training_step(self, batch, batch_idx):
        images, labels = batch
        self.backbone_training.append(self.backbone.training)
        features = self.backbone(images).mean((2, 3))  # (B, 8)
        return nn.functional.cross_entropy(self.classifier(features), labels)

    def validation_step(self, batch, batch_idx):
        self.backbone(batch[0])

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=0.05, weight_decay=5e-4)


class Snapshots(pl.Callback):
    """The model's state (parameters and buffers) at the end of every training epoch."""

    def __init__(self):
        self.states = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.states.append({k: v.detach().clone() for k, v in pl_module.state_dict().items()})


def fit(freeze_epochs: int, max_epochs: int = 3) -> tuple[TinyReID, list[dict]]:
    torch.manual_seed(0)
    data = TensorDataset(torch.randn(16, 3, 8, 4), torch.randint(0, 4, (16,)))
    model, snapshots = TinyReID(), Snapshots()
    trainer = pl.Trainer(
        max_epochs=max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=[FreezeBackbone(epochs=freeze_epochs), snapshots],
    )
    initial = {k: v.detach().clone() for k, v in model.state_dict().items()}
    loader = DataLoader(data, batch_size=4)
    trainer.fit(model, loader, DataLoader(data, batch_size=8))
    return model, [initial, *snapshots.states]


def changed(before: dict, after: dict, prefix: str) -> list[str]:
    return [k for k in before if k.startswith(prefix) and not torch.equal(before[k], after[k])]


def test_backbone_frozen_for_the_first_epochs_then_trained():
    model, states = fit(freeze_epochs=2)  # states: initial, after epoch 0, 1, 2
    for epoch in (0, 1):  # weights, BN running statistics and BN batch counter all untouched
        assert changed(states[epoch], states[epoch + 1], "backbone.") == []
        assert changed(states[epoch], states[epoch + 1], "classifier.") == ["classifier.weight", "classifier.bias"]
    assert set(changed(states[2], states[3], "backbone.")) == {
        "backbone.0.weight",
        "backbone.0.bias",
        "backbone.1.weight",
        "backbone.1.bias",
        "backbone.1.running_mean",
        "backbone.1.running_var",
        "backbone.1.num_batches_tracked",
    }
    assert model.backbone_training == [False] * 8 + [True] * 4  # 4 batches per epoch, validation in between


def test_zero_epochs_freezes_nothing():
    model, states = fit(freeze_epochs=0, max_epochs=1)
    assert "backbone.0.weight" in changed(states[0], states[1], "backbone.")
    assert all(model.backbone_training)


@pytest.mark.parametrize("epochs", [-1, 2.5, "10"])
def test_bad_epoch_count_is_refused(epochs):
    with pytest.raises(ValueError, match="callbacks.freeze_backbone.epochs must be a whole number >= 0, got "):
        FreezeBackbone(epochs=epochs)
