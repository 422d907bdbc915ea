"""Part-mask pictures: the pure grid renderer, and the callback writing images to TensorBoard."""

import pytorch_lightning as pl
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torch.utils.data import DataLoader, Dataset

from reid_lightning.callbacks.part_masks import PALETTE, PartMaskCallback, predicted_part_map, render_part_mask_grid
from reid_lightning.models.partitions import create_partition


def test_grid_shows_image_coloured_part_map_and_masked_images():
    image = torch.rand(3, 8, 4)
    part_map = torch.zeros(8, 4, dtype=torch.long)
    part_map[:2] = 1  # head
    part_map[2:5] = 2  # torso
    part_map[5:, :2] = 6  # one lower leg
    masks = torch.zeros(2, 4, 2)
    masks[0, 0, 0] = 1.0  # part 0: the top-left feature cell = a 2 x 2 patch of the image
    masks[1] = 0.5  # part 1: half everywhere
    grid = render_part_mask_grid(image, part_map, masks, gap=2)
    assert grid.dtype == torch.uint8 and grid.shape == (3, 8, 4 * 4 + 3 * 2)
    assert torch.equal(grid[:, :, :4], (image * 255).round().to(torch.uint8))
    coloured = grid[:, :, 6:10]  # second tile: the part map
    for label in (1, 2, 6):
        where = part_map == label
        assert torch.equal(coloured[:, where], PALETTE[label].view(3, 1).expand(3, int(where.sum())))
    assert torch.equal(coloured[:, 7, 3], PALETTE[0])  # background
    assert torch.equal(grid[:, :, 4:6], torch.full((3, 8, 2), 255, dtype=torch.uint8))  # white gap
    first = grid[:, :, 12:16]
    assert torch.equal(first[:, :2, :2], (image[:, :2, :2] * 255).round().to(torch.uint8))  # upsampled cell
    assert first[:, 2:].sum() == 0 and first[:, :, 2:].sum() == 0  # masked out elsewhere
    torch.testing.assert_close(grid[:, :, 18:22].float(), (image * 0.5 * 255).round(), atol=1, rtol=0)


class PartsDataset(Dataset):
    """Six items shaped like the data module's: normalised image, part map."""

    def __len__(self) -> int:
        return 6

    def __getitem__(self, index: int) -> dict:
        part_map = torch.zeros(32, 16, dtype=torch.long)
        part_map[4 + index : 12, 4:12] = 1
        part_map[12:28, 2:14] = 2
        return {"image": torch.randn(3, 32, 16), "part_map": part_map, "pid": torch.tensor(index % 2)}


class ImagesDataset(PartsDataset):
    """The same items without part maps (validation of a partition that predicts its masks)."""

    def __getitem__(self, index: int) -> dict:
        return {k: v for k, v in super().__getitem__(index).items() if k != "part_map"}


class TinyModel(pl.LightningModule):
    def __init__(self, partition: str):
        super().__init__()
        self.backbone = torch.nn.Conv2d(3, 4, kernel_size=4, stride=4)  # (B, 4, 8, 4)
        options = {"gaussian_mask": {"sigma": 2.0}, "predicted_mask": {"in_channels": 4}}.get(partition, {})
        self.partition = create_partition(partition, **options)
        self.fc = torch.nn.Linear(4 * self.partition.num_parts, 2)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        parts = self.partition(self.backbone(batch["image"]), batch["part_map"])
        return torch.nn.functional.cross_entropy(self.fc(parts.flatten(1)), batch["pid"])

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        pass

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def fit_with_callback(tmp_path, partition: str, val_maps: bool = True) -> EventAccumulator:
    loader = DataLoader(PartsDataset(), batch_size=3)
    val_loader = DataLoader(PartsDataset() if val_maps else ImagesDataset(), batch_size=3)
    logger = pl.loggers.TensorBoardLogger(tmp_path, name="run", version=0)
    trainer = pl.Trainer(
        max_epochs=2,
        limit_train_batches=1,
        limit_val_batches=1,
        accelerator="cpu",
        logger=logger,
        callbacks=[PartMaskCallback(num_images=2, every_n_epochs=2)],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(TinyModel(partition), train_dataloaders=loader, val_dataloaders=val_loader)
    events = EventAccumulator(str(tmp_path / "run" / "version_0"), size_guidance={"images": 0})
    events.Reload()
    return events


def test_callback_writes_one_grid_per_image_to_tensorboard(tmp_path):
    events = fit_with_callback(tmp_path, "gaussian_mask")
    assert sorted(events.Tags()["images"]) == ["val/part_masks/0", "val/part_masks/1"]
    written = events.Images("val/part_masks/0")
    assert len(written) == 1  # every_n_epochs=2: only after the second epoch, not at the sanity check
    assert (written[0].height, written[0].width) == (32, 9 * 16 + 8 * 2)  # image, map, 7 masks


def test_callback_skips_partitions_without_masks(tmp_path):
    events = fit_with_callback(tmp_path, "stripes")
    assert events.Tags()["images"] == []


def test_predicted_masks_are_shown_below_the_given_ones(tmp_path):
    events = fit_with_callback(tmp_path, "predicted_mask")
    written = events.Images("val/part_masks/1")
    assert (written[0].height, written[0].width) == (2 * 32 + 2, 9 * 16 + 8 * 2)  # given row, gap, predicted row


def test_predicted_masks_alone_without_part_maps(tmp_path):
    events = fit_with_callback(tmp_path, "predicted_mask", val_maps=False)
    written = events.Images("val/part_masks/0")
    assert (written[0].height, written[0].width) == (32, 9 * 16 + 8 * 2)


def test_predicted_part_map_is_the_likeliest_label_per_cell():
    logits = torch.zeros(3, 2, 1)
    logits[2, 0, 0], logits[1, 1, 0] = 1.0, 1.0  # top cell: label 2, bottom cell: label 1
    labels = predicted_part_map(logits, (4, 2))
    assert torch.equal(labels, torch.tensor([[2, 2], [2, 2], [1, 1], [1, 1]]))
