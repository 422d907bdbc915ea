"""Data: sample records, datasets by name, part maps, transforms, samplers and the LightningDataModule.

The synthetic generator is not imported here, so `python -m reid_lightning.data.generator` runs cleanly;
use `from reid_lightning.data.generator import SyntheticConfig, ensure_synthetic`.
"""

from reid_lightning.data.part_maps import (
    LIP_20_TO_PPP_7,
    PART_NAMES_7,
    PASCAL_PERSON_PART_7,
    LabelGrouping,
    check_part_maps,
    load_part_map,
    part_map_path,
)
from reid_lightning.data.samples import Sample, Splits
from reid_lightning.data.validation import split_validation

__all__ = [
    "LIP_20_TO_PPP_7",
    "PART_NAMES_7",
    "PASCAL_PERSON_PART_7",
    "LabelGrouping",
    "Sample",
    "Splits",
    "check_part_maps",
    "load_part_map",
    "part_map_path",
    "split_validation",
]
