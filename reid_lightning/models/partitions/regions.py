"""Partitions over fixed regions, needing no part maps: the whole map (`global`) or PCB's stripes."""

import torch
import torch.nn.functional as F

from reid_lightning.models.partitions.base import PARTITIONS, Partition


@PARTITIONS.register("global")
class GlobalPool(Partition):
    """Global average pooling: one part covering the whole map."""

    num_parts = 1

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        return feature_map.mean(dim=(2, 3)).unsqueeze(1)  # (B, 1, C)


@PARTITIONS.register("stripes")
class HorizontalStripes(Partition):
    """PCB-style: `num_stripes` horizontal bands of the feature map, each average-pooled.

    When h is a multiple of num_stripes the bands are equal and disjoint. Otherwise adaptive average
    pooling to (num_stripes, 1) is used: band i covers rows floor(i*h/N) .. ceil((i+1)*h/N) - 1, so
    neighbouring bands share a row (and with h < N some rows are repeated).
    """

    def __init__(self, num_stripes: int = 6):
        super().__init__()
        if num_stripes < 1:
            raise ValueError(f"partition=stripes got num_stripes={num_stripes}; use 1 or more (PCB uses 6)")
        self.num_parts = num_stripes

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(feature_map, (self.num_parts, 1))  # (B, C, N, 1)
        return pooled.squeeze(-1).transpose(1, 2)  # (B, N, C)
