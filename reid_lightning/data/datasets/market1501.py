"""Market-1501 on disk -> lists of samples (path, pid, camid), exactly as the benchmark defines them.

The layout is `Market-1501-v15.09.15/{bounding_box_train, query, bounding_box_test}/` with images
named `PPPP_cCsS_FFFFFF_BB.jpg`: person id, camera 1..6, sequence, frame, box index. Person id -1
marks junk boxes (dropped everywhere, they count neither as hits nor misses); id 0 marks distractors
(kept in the gallery as guaranteed non-matches). Train ids are relabelled 0..N-1 in sorted raw-id
order so they can index a classifier; query and gallery keep the raw ids, which only need to compare
equal. After parsing: train 12,936 images / 751 ids, query 3,368 / 750, gallery 15,913 (751 ids
counting the distractor id 0).

The synthetic generator (reid_lightning/data/generator/) writes the same layout, so its loader reads
it with `read_market_tree` (with its own number of cameras). The reading itself is market_style.py's,
shared with DukeMTMC-reID, CUHK03-NP and your own folders.
"""

import re
from functools import cache
from pathlib import Path

from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.datasets.market_style import NameFormat, find_tree, load_market_style
from reid_lightning.data.market_layout import MARKET_FOLDER, NUM_CAMERAS
from reid_lightning.data.samples import Splits

NAME_PATTERN = "PPPP_cCsS_FFFFFF_BB.jpg (e.g. 0002_c1s1_000451_03.jpg, junk -1_c1s1_000401_03.jpg)"
_HOW_TO_FIX = (
    "Download Market-1501 (Market-1501-v15.09.15.zip), unpack it and set data.root=/path/to/it "
    "(or the environment variable MARKET1501_ROOT, or conf/local/), or use data=synthetic."
)


@cache
def name_format(num_cameras: int = NUM_CAMERAS) -> NameFormat:
    """Market-1501's naming, with `num_cameras` cameras (6 for the benchmark; the synthetic sets vary)."""
    return NameFormat(
        title="Market-1501",
        pattern=re.compile(r"(?P<pid>-1|\d+)_c(?P<camid>\d)s\d+_\d+_\d+\.jpg", re.IGNORECASE),
        example=NAME_PATTERN,
        num_cameras=num_cameras,
        camera_prefix="c",
        how_to_fix=_HOW_TO_FIX,
        name_fix="rename it or remove it from the folder",
    )


def parse_name(path: Path, num_cameras: int = NUM_CAMERAS) -> tuple[int, int]:
    """`0002_c3s1_000451_03.jpg` -> (raw pid 2, camid 2). Raises ValueError naming the file."""
    return name_format(num_cameras).parse(path)


def resolve_root(root: str | Path) -> Path:
    """The folder holding bounding_box_train/ etc.: `root` itself or `root/Market-1501-v15.09.15`."""
    return find_tree(root, name_format(), (MARKET_FOLDER,))


def read_market_tree(root: Path, dataset: str, num_cameras: int = NUM_CAMERAS) -> Splits:
    """Parse a Market-format tree: train (relabelled), query and gallery (raw pids, distractors kept)."""
    return load_market_style(Path(root), name_format(num_cameras), dataset)


@DATASETS.register("market1501")
def load_market1501(root: str | Path) -> Splits:
    """Market-1501 under `root` (the folder with bounding_box_train/, or its parent)."""
    return read_market_tree(resolve_root(root), "market1501")
