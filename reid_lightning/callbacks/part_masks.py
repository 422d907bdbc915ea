"""Part masks as pictures: what each part feature of a mask partition looks at.

At the end of validation (rank zero, every `every_n_epochs` epochs) a few fixed validation images go
through the backbone and `pl_module.partition.outputs(...)`; for each image one picture is written to
TensorBoard (`val/part_masks/<i>`): a row of the image, its part map colour-coded, then every part's mask
at feature resolution, upsampled with nearest neighbour (so feature cells stay visible) and multiplied
into the image, as in the thesis's Figure 3.5(c). A partition that predicts its masks gets two rows, the
given masks (from the part map, when the validation data has one) above the predicted ones (beside the
map of each cell's most likely label). Partitions without masks (global, stripes) are skipped.
"""

import logging
from collections.abc import Sequence

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from reid_lightning.data.part_maps import PART_COLOURS
from reid_lightning.data.transforms import IMAGENET_MEAN, IMAGENET_STD

log = logging.getLogger(__name__)

# The part colours (labels beyond 6, after a custom grouping, reuse them cyclically), as a tensor.
PALETTE = torch.from_numpy(PART_COLOURS)  # (7, 3) uint8


def colour_part_map(part_map: torch.Tensor) -> torch.Tensor:
    """Labels (H, W) -> uint8 colours (3, H, W) from PALETTE."""
    return PALETTE[part_map.long().cpu() % len(PALETTE)].permute(2, 0, 1)


def render_part_mask_grid(
    image: torch.Tensor, part_map: torch.Tensor, masks: torch.Tensor, gap: int = 2
) -> torch.Tensor:
    """One row of tiles, `gap` white columns apart: image | coloured part map | image * mask_p for each part.

    image (3, H, W) float in [0, 1]; part_map (H, W) int labels; masks (P, h, w) float at feature
    resolution, upsampled to (H, W) with nearest neighbour and clamped to [0, 1].
    Returns uint8 (3, H, (2 + P) * W + (1 + P) * gap).
    """
    h, w = image.shape[-2:]
    if tuple(part_map.shape) != (h, w):
        raise ValueError(f"part map has shape {tuple(part_map.shape)}, expected {(h, w)} like its image")
    image = image.detach().float().cpu().clamp(0, 1)
    up = F.interpolate(masks.detach().float().cpu()[None], size=(h, w), mode="nearest")[0].clamp(0, 1)
    tiles = [(image * 255).round().to(torch.uint8), colour_part_map(part_map)]
    tiles += [(image * m * 255).round().to(torch.uint8) for m in up]  # (3, H, W) each
    spacer = torch.full((3, h, gap), 255, dtype=torch.uint8)
    row = [t for tile in tiles for t in (tile, spacer)][:-1]
    return torch.cat(row, dim=2)


def stack_rows(rows: list[torch.Tensor], gap: int = 2) -> torch.Tensor:
    """Rows (3, H, W) uint8 of one width -> one picture, `gap` white rows apart."""
    spacer = torch.full((3, gap, rows[0].shape[-1]), 255, dtype=torch.uint8)
    return torch.cat([t for row in rows for t in (row, spacer)][:-1], dim=1)


def predicted_part_map(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Logits (L, h, w) -> each cell's most likely label, upsampled with nearest neighbour to (H, W)."""
    labels = logits.argmax(dim=0).float()[None, None]  # (1, 1, h, w)
    return F.interpolate(labels, size=size, mode="nearest")[0, 0].long()


class PartMaskCallback(pl.Callback):
    def __init__(
        self,
        num_images: int = 4,
        every_n_epochs: int = 1,
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
    ):
        self.num_images, self.every_n_epochs = num_images, every_n_epochs
        self.mean, self.std = mean, std
        self.batch: dict | None = None
        self.warned = False

    def _skip(self, reason: str) -> None:
        if not self.warned:
            log.info("PartMaskCallback: no part-mask pictures, %s", reason)
            self.warned = True

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        if (trainer.current_epoch + 1) % self.every_n_epochs:
            return
        partition = getattr(pl_module, "partition", None)
        if not callable(getattr(partition, "outputs", None)):
            return self._skip(f"{type(partition).__name__} is not a partition")
        loggers = [lg for lg in trainer.loggers if isinstance(lg, pl.loggers.TensorBoardLogger)]
        if not loggers:
            return self._skip("no TensorBoard logger")
        batch = self.batch  # None before any validation batch
        if batch is None or (partition.requires_part_maps and "part_map" not in batch):
            return self._skip("the validation data has no part maps")
        images = batch["image"].to(pl_module.device)  # (N, 3, H, W) normalised
        given_maps = batch.get("part_map")  # (N, H, W) or None
        maps = None if given_maps is None else given_maps.to(pl_module.device)
        with torch.no_grad():
            feature_map = pl_module.backbone(images.to(pl_module.dtype))  # (N, C, h, w)
            out = partition.outputs(feature_map, maps)
            predicted = out.logits is not None
            given = partition.masks(maps, tuple(feature_map.shape[-2:])) if predicted and maps is not None else None
        if out.masks is None:
            return self._skip(f"partition {type(partition).__name__} has no masks")
        mean, std = self._mean_std(trainer, pl_module)
        pixels = images.cpu() * std.view(3, 1, 1) + mean.view(3, 1, 1)  # back to [0, 1]
        for i in range(len(images)):
            if not predicted:  # the masks pooled with are the given ones
                rows = [render_part_mask_grid(pixels[i], given_maps[i], out.masks[i])]
            else:  # given (when the data has maps) above predicted
                rows = [] if given is None else [render_part_mask_grid(pixels[i], given_maps[i], given[i])]
                labels = predicted_part_map(out.logits[i].cpu(), tuple(images.shape[-2:]))
                rows.append(render_part_mask_grid(pixels[i], labels, out.masks[i]))
            for logger in loggers:
                logger.experiment.add_image(f"val/part_masks/{i}", stack_rows(rows), trainer.global_step)

    def on_validation_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs,
        batch,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        """Keep the head of the first validation batch, as the model saw it (on the device, normalised, by
        either data path): the same images every epoch."""
        if self.batch is None and batch_idx == 0 and dataloader_idx == 0 and trainer.is_global_zero:
            self.batch = {
                k: v[: self.num_images].detach().clone() for k, v in batch.items() if isinstance(v, torch.Tensor)
            }

    def _mean_std(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[torch.Tensor, ...]:
        """Normalisation to undo: the callback's, else the module's hparams, the data module's, ImageNet's."""
        mean, std = self.mean, self.std
        hparams = getattr(pl_module, "hparams", {})
        transform_cfg = getattr(getattr(trainer, "datamodule", None), "transform_cfg", None)
        mean = mean or hparams.get("mean") or getattr(transform_cfg, "mean", None) or IMAGENET_MEAN
        std = std or hparams.get("std") or getattr(transform_cfg, "std", None) or IMAGENET_STD
        return torch.tensor(mean, dtype=torch.float32), torch.tensor(std, dtype=torch.float32)
