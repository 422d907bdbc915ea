"""DukeMTMC-reID on disk -> Splits, exactly as the benchmark defines it.

Layout: `DukeMTMC-reID/{bounding_box_train, query, bounding_box_test}/` (data.root may be the
`DukeMTMC-reID` folder or its parent), images named `PPPP_cC_fFFFFFFF.jpg`: person id, camera 1..8,
frame number (e.g. `0001_c2_f0046182.jpg`). There are no junk or pid-0 images; the 408 gallery-only
identities are the distractors. After parsing:

    train    16,522 images /   702 ids (relabelled 0..701)
    query     2,228 images /   702 ids
    gallery  17,661 images / 1,110 ids (the 702 query ids + 408 distractor ids)
"""

import re
from pathlib import Path

from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.datasets.market_style import NameFormat, find_tree, load_market_style
from reid_lightning.data.samples import Splits

RELEASE_FOLDER = "DukeMTMC-reID"
NAME_FORMAT = NameFormat(
    title="DukeMTMC-reID",
    pattern=re.compile(r"(?P<pid>\d+)_c(?P<camid>\d)_f\d+\.jpg", re.IGNORECASE),
    example="PPPP_cC_fFFFFFFF.jpg (e.g. 0001_c2_f0046182.jpg)",
    num_cameras=8,
    camera_prefix="c",
    how_to_fix="Unpack DukeMTMC-reID.zip and set data.root=/path/to/DukeMTMC-reID (or the environment "
    "variable DUKEMTMC_ROOT, or conf/local/).",
)


@DATASETS.register("dukemtmc")
def load_dukemtmc(root: str | Path) -> Splits:
    """DukeMTMC-reID under `root` (the DukeMTMC-reID folder, or its parent)."""
    return load_market_style(find_tree(root, NAME_FORMAT, (RELEASE_FOLDER,)), NAME_FORMAT, "dukemtmc")
