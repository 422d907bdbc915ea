"""Augment and normalise a whole batch on the training device: the decode cache's half of the data path.

The per-file path runs torchvision's per-sample transforms in loader workers (transforms.py). With the
decode cache, a batch arrives as uint8 images (B, 3, H, W) and part maps (B, H, W) at the input size, and
this module does the rest after the batch reached the device (the data module's `on_after_batch_transfer`):

- flip (p=0.5) and pad + random crop, as one gather that moves image and part map together (zeros pad
  both, as `v2.Pad` fills images and masks with 0);
- conversion to float, scaling to [0, 1] and normalisation;
- random erasing (value 0, after normalisation, the image only), torchvision's algorithm: up to 10 tries of
  an area in scale x H x W and a log-uniform aspect ratio, the first that fits wins, none = no erasing.

Each sample's draws equal torchvision's in distribution (`draw`), and the same draws give the same pixels
and labels as the per-sample transforms (tests/test_batch_augment.py). The draws come from a CPU generator
seeded per batch (`batch_seed`) and move to the device with the batch, so a run is reproducible from its
seed on any device, resumed runs included. Evaluation batches are only converted and normalised.
"""

import math
from typing import NamedTuple

import torch

from reid_lightning.data.transforms import TransformConfig

ERASE_SCALE, ERASE_RATIO, ERASE_TRIES = (0.02, 0.33), (0.3, 3.3), 10  # torchvision RandomErasing's defaults


class BatchDraws(NamedTuple):
    """One batch's random choices, (B,) each; erase_h == 0 where a sample is not erased."""

    flip: torch.Tensor  # bool
    top: torch.Tensor  # crop offsets into the padded image, 0..2*pad
    left: torch.Tensor
    erase_top: torch.Tensor
    erase_left: torch.Tensor
    erase_h: torch.Tensor
    erase_w: torch.Tensor

    def to(self, device: torch.device) -> "BatchDraws":
        return BatchDraws(*(t.to(device, non_blocking=True) for t in self))


def batch_seed(seed: int, batch_number: int, rank: int = 0) -> int:
    """The seed of one training batch: of the run's seed, the batch's number in the run, and the rank."""
    return (seed * 1_000_003 + batch_number) * 4_099 + rank


class BatchAugment:
    """The training augmentation of `cfg` (flip, pad, random_erasing) and the normalisation, for batches."""

    def __init__(self, cfg: TransformConfig):
        self.cfg = cfg
        self.mean = torch.tensor(cfg.mean, dtype=torch.float32).view(1, 3, 1, 1)
        self.std = torch.tensor(cfg.std, dtype=torch.float32).view(1, 3, 1, 1)

    def draw(self, batch_size: int, generator: torch.Generator) -> BatchDraws:
        """Each sample's flip, crop offsets and erasing box, as torchvision's transforms would draw them."""
        height, width, pad = self.cfg.height, self.cfg.width, self.cfg.pad

        def uniform(*shape, low=0.0, high=1.0):
            return torch.rand(*shape, generator=generator) * (high - low) + low

        flip = uniform(batch_size) < 0.5 if self.cfg.flip else torch.zeros(batch_size, dtype=torch.bool)
        top = torch.randint(0, 2 * pad + 1, (batch_size,), generator=generator)
        left = torch.randint(0, 2 * pad + 1, (batch_size,), generator=generator)
        erase = uniform(batch_size) < self.cfg.random_erasing  # RandomErasing's p
        area = height * width * uniform(batch_size, ERASE_TRIES, low=ERASE_SCALE[0], high=ERASE_SCALE[1])
        log_ratio = (math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1]))
        aspect = torch.exp(uniform(batch_size, ERASE_TRIES, low=log_ratio[0], high=log_ratio[1]))
        box_h = torch.sqrt(area * aspect).round().long()  # (B, tries), round half to even as Python's round
        box_w = torch.sqrt(area / aspect).round().long()
        fits = (box_h < height) & (box_w < width)
        first = fits.long().argmax(dim=1)  # the first try that fits (0 when none does)
        rows = torch.arange(batch_size)
        erase_h = torch.where(erase & fits.any(dim=1), box_h[rows, first], 0)
        erase_w = torch.where(erase_h > 0, box_w[rows, first], 0)
        erase_top = (uniform(batch_size) * (height - erase_h + 1)).floor().long()  # randint(0, H - h + 1)
        erase_left = (uniform(batch_size) * (width - erase_w + 1)).floor().long()
        return BatchDraws(flip, top, left, erase_top, erase_left, erase_h, erase_w)

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B, 3, H, W) -> float32, (x / 255 - mean) / std, in torchvision's order of operations (ToDtype,
        Normalize), so the result equals the per-sample path's bit for bit."""
        mean, std = self.mean.to(images.device), self.std.to(images.device)
        return images.float().mul_(1.0 / 255).sub_(mean).div_(std)

    def __call__(
        self, images: torch.Tensor, part_maps: torch.Tensor | None, draws: BatchDraws
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """uint8 images (B, 3, H, W) and part maps (B, H, W) -> augmented float images and int64 maps."""
        draws = draws.to(images.device)
        rows, cols = self._crop_indices(draws, images.device)  # (B, H), (B, W) into the padded image
        pad = self.cfg.pad
        batch = torch.arange(len(images), device=images.device)[:, None, None]
        padded = torch.nn.functional.pad(images, (pad, pad, pad, pad))  # (B, 3, H+2p, W+2p), zeros
        moved = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, 3)
        out = self.normalize(moved.permute(0, 3, 1, 2))  # (B, 3, H, W) float
        if part_maps is not None:
            padded_maps = torch.nn.functional.pad(part_maps, (pad, pad, pad, pad))  # background outside
            part_maps = padded_maps[batch, rows[:, :, None], cols[:, None, :]].long()  # (B, H, W)
        return self._erase(out, draws), part_maps

    def _crop_indices(self, draws: BatchDraws, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows and columns of the padded image that each output pixel takes; a flip reads columns backwards
        (padding is symmetric, so flipping before padding = reading the padded image mirrored)."""
        height, width, pad = self.cfg.height, self.cfg.width, self.cfg.pad
        rows = draws.top[:, None] + torch.arange(height, device=device)  # (B, H)
        cols = draws.left[:, None] + torch.arange(width, device=device)  # (B, W)
        mirrored = (width + 2 * pad - 1) - cols  # (B, W)
        return rows, torch.where(draws.flip[:, None], mirrored, cols)

    @staticmethod
    def _erase(images: torch.Tensor, draws: BatchDraws) -> torch.Tensor:
        """Zero each sample's box (erase_h == 0: none)."""
        ys = torch.arange(images.shape[-2], device=images.device)[None, :, None]  # (1, H, 1)
        xs = torch.arange(images.shape[-1], device=images.device)[None, None, :]  # (1, 1, W)
        top, left = draws.erase_top[:, None, None], draws.erase_left[:, None, None]
        inside = (
            (ys >= top)
            & (ys < top + draws.erase_h[:, None, None])
            & (xs >= left)
            & (xs < left + draws.erase_w[:, None, None])
        )  # (B, H, W)
        return images.masked_fill(inside[:, None], 0.0)
