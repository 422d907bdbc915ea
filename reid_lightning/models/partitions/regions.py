"""Partitions over fixed regions, needing no part maps: the whole map (`global`) or PCB's stripes, each region
pooled by average, max or GeM (models/pooling.py). The mask partitions keep the thesis's mask-weighted sum:
its size carries the part's extent, which a generalised mean would normalise away."""

import torch

from reid_lightning.models.partitions.base import PARTITIONS, Partition
from reid_lightning.models.pooling import create_pooling


@PARTITIONS.register("global")
class GlobalPool(Partition):
    """Global pooling (average by default; max, or GeM as AGW/SBS): one part covering the whole map."""

    num_parts = 1

    def __init__(self, pooling: str = "avg", gem_p: float = 3.0, gem_eps: float = 1e-6):
        super().__init__()
        self.pool = create_pooling(pooling, gem_p, gem_eps)

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        return self.pool(feature_map, (1, 1)).flatten(1).unsqueeze(1)  # (B, 1, C)


@PARTITIONS.register("stripes")
class HorizontalStripes(Partition):
    """PCB-style: `num_stripes` horizontal bands of the feature map, each pooled (avg | max | gem).

    When h is a multiple of num_stripes the bands are equal and disjoint. Otherwise adaptive pooling to
    (num_stripes, 1) is used: band i covers rows floor(i*h/N) .. ceil((i+1)*h/N) - 1, so neighbouring bands
    share a row (and with h < N some rows are repeated).
    """

    def __init__(self, num_stripes: int = 6, pooling: str = "avg", gem_p: float = 3.0, gem_eps: float = 1e-6):
        super().__init__()
        if num_stripes < 1:
            raise ValueError(f"partition=stripes got num_stripes={num_stripes}; use 1 or more (PCB uses 6)")
        self.num_parts = num_stripes
        self.pool = create_pooling(pooling, gem_p, gem_eps)  # each band's pooling; GeM's p shared by the bands

    def forward(self, feature_map: torch.Tensor, part_maps: torch.Tensor | None = None) -> torch.Tensor:
        pooled = self.pool(feature_map, (self.num_parts, 1))  # (B, C, N, 1)
        return pooled.squeeze(-1).transpose(1, 2)  # (B, N, C)
