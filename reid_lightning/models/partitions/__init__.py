"""Partitions: turn the backbone's feature map (B, C, h, w) into P part features (B, P, C).

Five strategies, registered by name (`create_partition`; the first four: thesis chapter 3, Table 3.2):

- `global`, `stripes`               regions.py: the whole map, PCB-style horizontal bands (avg | max | gem)
- `binary_mask`, `gaussian_mask`    masks.py: body-part masks from the part maps, smoothed or not
- `predicted_mask`                  predicted.py: masks predicted from the feature map, taught by part maps

The contract and the registry are in base.py; importing this package registers every strategy.
"""

# isort: off
# importing the strategies registers them, in the order of the docstring and of the registry's listings
from reid_lightning.models.partitions import regions  # noqa: F401
from reid_lightning.models.partitions import masks  # noqa: F401
from reid_lightning.models.partitions import predicted  # noqa: F401

# isort: on
from reid_lightning.models.partitions.base import (
    PARTITIONS,
    Partition,
    PartitionOutput,
    create_partition,
    is_tracing,
    mask_visibility,
)
from reid_lightning.models.partitions.masks import blur_matrix, pool_masked

__all__ = [
    "PARTITIONS",
    "Partition",
    "PartitionOutput",
    "blur_matrix",
    "create_partition",
    "is_tracing",
    "mask_visibility",
    "pool_masked",
]
