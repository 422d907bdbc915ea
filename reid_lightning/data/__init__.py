"""Data: Market-1501 parsing, the synthetic generator, part maps, transforms, sampler, data module.

The synthetic generator is not imported here, so `python -m reid_lightning.data.synthetic` runs cleanly;
use `from reid_lightning.data.synthetic import SyntheticConfig, ensure_synthetic`.
"""

from reid_lightning.data.market1501 import (
    MarketSplits,
    Sample,
    load_market1501,
    part_map_path,
    split_validation,
)
from reid_lightning.data.part_maps import (
    LIP_20_TO_PPP_7,
    PART_NAMES_7,
    PASCAL_PERSON_PART_7,
    LabelGrouping,
    check_part_maps,
    load_part_map,
)

__all__ = [
    "LIP_20_TO_PPP_7", "PART_NAMES_7", "PASCAL_PERSON_PART_7", "LabelGrouping", "MarketSplits", "Sample",
    "check_part_maps", "load_market1501", "load_part_map",
    "part_map_path", "split_validation",
]
