"""Market-1501 on disk -> lists of samples (path, pid, camid), exactly as the benchmark defines them.

The layout is `Market-1501-v15.09.15/{bounding_box_train, query, bounding_box_test}/` with images
named `PPPP_cCsS_FFFFFF_BB.jpg`: person id, camera 1..6, sequence, frame, box index. Person id -1
marks junk boxes (dropped everywhere, they count neither as hits nor misses); id 0 marks distractors
(kept in the gallery as guaranteed non-matches). Train ids are relabelled 0..N-1 in sorted raw-id
order so they can index a classifier; query and gallery keep the raw ids, which only need to compare
equal. After parsing: train 12,936 images / 751 ids, query 3,368 / 750, gallery 15,913 (751 ids
counting the distractor id 0).

The synthetic generator (synthetic.py) writes the same layout, so this parser reads both.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

MARKET_FOLDER = "Market-1501-v15.09.15"
TRAIN_FOLDER, QUERY_FOLDER, GALLERY_FOLDER = "bounding_box_train", "query", "bounding_box_test"
NAME_PATTERN = "PPPP_cCsS_FFFFFF_BB.jpg (e.g. 0002_c1s1_000451_03.jpg, junk -1_c1s1_000401_03.jpg)"
_NAME_RE = re.compile(r"^(-1|\d+)_c(\d)s(\d+)_(\d+)_(\d+)\.jpg$", re.IGNORECASE)
NUM_CAMERAS = 6
JUNK_PID, DISTRACTOR_PID = -1, 0
_HOW_TO_FIX = (
    "Download Market-1501 (Market-1501-v15.09.15.zip), unpack it and set data.root=/path/to/it "
    "(or the environment variable MARKET1501_ROOT, or conf/local/), or use data=synthetic."
)


@dataclass(frozen=True)
class Sample:
    """One image: its file, its person id (relabelled for train, raw for eval) and camera (0-based)."""

    path: Path
    pid: int
    camid: int


@dataclass(frozen=True)
class MarketSplits:
    """The three lists of a Market-format dataset and where each one lives on disk."""

    root: Path
    train: list[Sample]
    query: list[Sample]
    gallery: list[Sample]
    num_train_pids: int
    folder: dict[str, str] = field(
        default_factory=lambda: {"train": TRAIN_FOLDER, "query": QUERY_FOLDER, "gallery": GALLERY_FOLDER}
    )

    @property
    def train_dir(self) -> str:
        return self.folder["train"]

    @property
    def query_dir(self) -> str:
        return self.folder["query"]

    @property
    def gallery_dir(self) -> str:
        return self.folder["gallery"]

    def summary(self) -> str:
        """A small table: images, ids and cameras per split."""
        lines = [f"Market-format dataset at {self.root}",
                 f"  {'split':<8} {'folder':<19} {'images':>7} {'ids':>5} {'cams':>5}"]
        for name in ("train", "query", "gallery"):
            samples = getattr(self, name)
            ids = len({s.pid for s in samples})
            cams = len({s.camid for s in samples})
            line = f"  {name:<8} {self.folder[name]:<19} {len(samples):>7} {ids:>5} {cams:>5}"
            distractors = sum(s.pid == DISTRACTOR_PID for s in samples) if name == "gallery" else 0
            if distractors:
                line += f"  (incl. {distractors} distractors, pid 0)"
            lines.append(line)
        return "\n".join(lines)


def parse_name(path: Path) -> tuple[int, int]:
    """`0002_c3s1_000451_03.jpg` -> (raw pid 2, camid 2). Raises ValueError naming the file."""
    match = _NAME_RE.match(path.name)
    if match is None:
        raise ValueError(f"image {path} does not follow the Market-1501 naming {NAME_PATTERN}; "
                         "rename it or remove it from the folder")
    pid, cam = int(match.group(1)), int(match.group(2))
    if not 1 <= cam <= NUM_CAMERAS:
        raise ValueError(f"image {path} has camera c{cam}; Market-1501 cameras are c1..c{NUM_CAMERAS}")
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


def read_split(folder: Path, keep_distractors: bool) -> list[Sample]:
    """All `.jpg` of one split folder with raw pids, junk dropped, sorted by file name.

    Non-jpg files (Thumbs.db, ...) are ignored; a jpg with a bad name is an error.
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"Market-1501 split folder {folder} is missing. {_HOW_TO_FIX}")
    samples = []
    for path in sorted(p for p in folder.iterdir() if p.suffix.lower() == ".jpg"):
        pid, camid = parse_name(path)
        if pid == JUNK_PID or (pid == DISTRACTOR_PID and not keep_distractors):
            continue
        samples.append(Sample(path, pid, camid))
    return samples


def relabel(samples: list[Sample]) -> tuple[list[Sample], int]:
    """Map raw pids to 0..N-1 in sorted raw-pid order; returns (samples, N)."""
    label_of = {pid: label for label, pid in enumerate(sorted({s.pid for s in samples}))}
    return [Sample(s.path, label_of[s.pid], s.camid) for s in samples], len(label_of)


def load_market1501(root: str | Path) -> MarketSplits:
    """Parse train (relabelled), query and gallery (raw pids, distractors kept) under `root`."""
    root = resolve_root(root)
    train, num_train_pids = relabel(read_split(root / TRAIN_FOLDER, keep_distractors=False))
    query = read_split(root / QUERY_FOLDER, keep_distractors=False)
    gallery = read_split(root / GALLERY_FOLDER, keep_distractors=True)
    return MarketSplits(root, train, query, gallery, num_train_pids)


def part_map_path(part_root: str | Path, split: str, sample: Sample) -> Path:
    """Where the part map of `sample` lives: `<part_root>/<split folder>/<image stem>.png`."""
    return Path(part_root) / split / f"{sample.path.stem}.png"


class ValidationSplit(NamedTuple):
    """Train images minus the held-out ones, and the held-out ones as a retrieval query/gallery pair.

    All three lists come from the train folder (TRAIN_FOLDER, for part maps). Unpacks as
    `train, query, gallery = split_validation(...)`.
    """

    train: list[Sample]
    query: list[Sample]
    gallery: list[Sample]


def split_validation(train: list[Sample], num_val_ids: int | None = None, num_query_per_id: int | None = None,
                     num_gallery_per_id: int = 1, seed: int = 0) -> ValidationSplit:
    """Hold out part of the training set for validation; the remaining train pids are relabelled 0..N-1.

    The thesis (section 3.2) trained on 12,185 images and validated on 751: one image of each of the
    751 train identities, the identities staying in training (a closed-set check, as in the common
    `prepare.py` recipe of Market-1501 baselines). Two modes:

    - `num_val_ids=None` (thesis-like, closed set): for every identity seen by enough cameras,
      `num_query_per_id` (default 1) query images from distinct random cameras and
      `num_gallery_per_id` gallery images from its other cameras, so each query keeps a
      cross-camera match under the Market protocol; at least one image per identity stays in
      train, so val samples carry the identity's train label. `num_gallery_per_id=0` gives exactly
      the thesis split on Market (751 held-out images as query, empty gallery: use it for
      classification accuracy).
    - `num_val_ids=K` (open set, like Market's own test): K random identities seen by >= 2 cameras
      leave training entirely; each gives one query image in each of `num_query_per_id` random
      cameras (default and at most: all its cameras but one, close to Market's one query per
      camera) and all its other images to the gallery. Val samples keep the pids they had in
      `train` (never used as class labels).
    """
    if num_query_per_id is None:
        num_query_per_id = 1 if num_val_ids is None else NUM_CAMERAS
    if num_query_per_id < 1 or num_gallery_per_id < 0:
        raise ValueError(f"split_validation needs num_query_per_id >= 1 and num_gallery_per_id >= 0, "
                         f"got {num_query_per_id} and {num_gallery_per_id}")
    rng = np.random.default_rng(seed)
    by_pid: dict[int, list[Sample]] = {}
    for s in sorted(train, key=_by_name):
        by_pid.setdefault(s.pid, []).append(s)

    def pick_queries(images: list[Sample], num: int) -> list[Sample]:
        cameras = rng.permutation(sorted({s.camid for s in images}))[:num].tolist()
        return [images[rng.choice([i for i, s in enumerate(images) if s.camid == cam])]
                for cam in sorted(cameras)]

    held_query, held_gallery = [], []
    if num_val_ids is not None:
        eligible = [pid for pid in sorted(by_pid) if len({s.camid for s in by_pid[pid]}) >= 2]
        if not 0 < num_val_ids < len(by_pid) or num_val_ids > len(eligible):
            raise ValueError(f"split_validation: num_val_ids={num_val_ids}, but the train set has "
                             f"{len(by_pid)} identities ({len(eligible)} seen by >= 2 cameras); "
                             f"choose 1..{len(eligible)} and leave at least one identity to train on")
        for pid in sorted(rng.choice(eligible, num_val_ids, replace=False).tolist()):
            images = by_pid.pop(pid)
            query = pick_queries(images, min(num_query_per_id, len({s.camid for s in images}) - 1))
            held_query += query
            held_gallery += [s for s in images if s not in query]
    else:
        for pid in sorted(by_pid):
            images = by_pid[pid]
            if len({s.camid for s in images}) < num_query_per_id + (num_gallery_per_id > 0):
                continue
            query = pick_queries(images, num_query_per_id)
            query_cams = {s.camid for s in query}
            others = [s for s in images if s.camid not in query_cams]
            if len(others) < num_gallery_per_id or len(images) - len(query) - num_gallery_per_id < 1:
                continue
            held_query += query
            held_gallery += [others[i] for i in sorted(rng.permutation(len(others))[:num_gallery_per_id])]
    held = {s.path for s in held_query + held_gallery}
    kept = [s for s in train if s.path not in held]
    remaining, _ = relabel(kept)
    if num_val_ids is None:  # val identities are still trained on: give them their new label
        label_of = {old.pid: new.pid for old, new in zip(kept, remaining, strict=True)}
        held_query = [Sample(s.path, label_of[s.pid], s.camid) for s in held_query]
        held_gallery = [Sample(s.path, label_of[s.pid], s.camid) for s in held_gallery]
    return ValidationSplit(remaining, sorted(held_query, key=_by_name), sorted(held_gallery, key=_by_name))


def _by_name(sample: Sample) -> str:
    return sample.path.name
