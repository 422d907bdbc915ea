"""Market-1501 on disk -> lists of samples (path, pid, camid), exactly as the benchmark defines them.

The layout is `Market-1501-v15.09.15/{bounding_box_train, query, bounding_box_test}/` with images
named `PPPP_cCsS_FFFFFF_BB.jpg`: person id, camera 1..6, sequence, frame, box index. Person id -1
marks junk boxes (dropped everywhere, they count neither as hits nor misses); id 0 marks distractors
(kept in the gallery as guaranteed non-matches). Train ids are relabelled 0..N-1 in sorted raw-id
order so they can index a classifier; query and gallery keep the raw ids, which only need to compare
equal. After parsing: train 12,936 images / 751 ids, query 3,368 / 750, gallery 15,913 (751 ids
counting the distractor id 0).

The synthetic generator (reid_lightning/data/synthetic/) writes the same layout, so its loader reads
it with this module's functions (with its own number of cameras).
"""

import re
from pathlib import Path

from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.records import DISTRACTOR_PID, JUNK_PID, Sample, Splits, relabel

MARKET_FOLDER = "Market-1501-v15.09.15"
TRAIN_FOLDER, QUERY_FOLDER, GALLERY_FOLDER = "bounding_box_train", "query", "bounding_box_test"
NAME_PATTERN = "PPPP_cCsS_FFFFFF_BB.jpg (e.g. 0002_c1s1_000451_03.jpg, junk -1_c1s1_000401_03.jpg)"
_NAME_RE = re.compile(r"^(-1|\d+)_c(\d)s(\d+)_(\d+)_(\d+)\.jpg$", re.IGNORECASE)
NUM_CAMERAS = 6
_HOW_TO_FIX = (
    "Download Market-1501 (Market-1501-v15.09.15.zip), unpack it and set data.root=/path/to/it "
    "(or the environment variable MARKET1501_ROOT, or conf/local/), or use data=synthetic."
)


def parse_name(path: Path, num_cameras: int = NUM_CAMERAS) -> tuple[int, int]:
    """`0002_c3s1_000451_03.jpg` -> (raw pid 2, camid 2). Raises ValueError naming the file."""
    match = _NAME_RE.match(path.name)
    if match is None:
        raise ValueError(f"image {path} does not follow the Market-1501 naming {NAME_PATTERN}; "
                         "rename it or remove it from the folder")
    pid, cam = int(match.group(1)), int(match.group(2))
    if not 1 <= cam <= num_cameras:
        raise ValueError(f"image {path} has camera c{cam}; this dataset's cameras are c1..c{num_cameras}")
    return pid, cam - 1


def resolve_root(root: str | Path) -> Path:
    """The folder holding bounding_box_train/ etc.: `root` itself or `root/Market-1501-v15.09.15`."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Market-1501 root {root} does not exist. {_HOW_TO_FIX}")
    for candidate in (root, root / MARKET_FOLDER):
        if (candidate / TRAIN_FOLDER).is_dir() or (candidate / QUERY_FOLDER).is_dir():
            return candidate
    raise FileNotFoundError(
        f"no Market-1501 split folders in {root}: looked for {root / TRAIN_FOLDER} and "
        f"{root / MARKET_FOLDER / TRAIN_FOLDER}. {_HOW_TO_FIX}")


def read_split(folder: Path, keep_distractors: bool, dataset: str = "market1501",
               num_cameras: int = NUM_CAMERAS) -> list[Sample]:
    """All `.jpg` of one split folder with raw pids, junk dropped, sorted by file name.

    Non-jpg files (Thumbs.db, ...) are ignored; a jpg with a bad name is an error.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"Market-1501 split folder {folder} is missing. {_HOW_TO_FIX}")
    samples = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jpg"):
        pid, camid = parse_name(path, num_cameras)
        if pid == JUNK_PID or (pid == DISTRACTOR_PID and not keep_distractors):
            continue
        samples.append(Sample(path, pid, camid, dataset))
    return samples


def read_market_tree(root: Path, dataset: str, num_cameras: int = NUM_CAMERAS) -> Splits:
    """Parse a Market-format tree: train (relabelled), query and gallery (raw pids, distractors kept)."""
    train, num_train_pids = relabel(read_split(root / TRAIN_FOLDER, False, dataset, num_cameras))
    query = read_split(root / QUERY_FOLDER, False, dataset, num_cameras)
    gallery = read_split(root / GALLERY_FOLDER, True, dataset, num_cameras)
    return Splits(root, train, query, gallery, num_train_pids, name=dataset)


@DATASETS.register("market1501")
def load_market1501(root: str | Path) -> Splits:
    """Market-1501 under `root` (the folder with bounding_box_train/, or its parent)."""
    return read_market_tree(resolve_root(root), "market1501")
