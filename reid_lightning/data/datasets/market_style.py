r"""Reading Market-style trees: one folder per split, identity and camera in every file name.

Market-1501, DukeMTMC-reID, CUHK03-NP, the synthetic sets and a user's own `folder` data all store a
dataset as `<root>/{bounding_box_train, query, bounding_box_test}/` with names such as
`0002_c1s1_000451_03.jpg`. They differ only in the file-name pattern, the number of cameras and the
image extension; a `NameFormat` holds those, and `load_market_style` turns such a tree into `Splits`:
train relabelled 0..N-1, query and gallery with raw pids, junk (pid -1) dropped, distractors (pid 0)
kept in the gallery only. Folders are listed with one `os.scandir` each (no per-file stat), so the
36,000 names of DukeMTMC-reID parse in a fraction of a second.

Stricter than Torchreid and fast-reid, on purpose: they glob `*.jpg` and `re.search` `([-\d]+)_c(\d)`
anywhere in the path, so any jpg holding `<digits>_c<digit>` loads (a Market name in a DukeMTMC folder,
a renamed or augmented copy), and a name without it crashes with a bare AttributeError. Our patterns
match the whole file name as the benchmark writes it, so a stray file fails naming itself and the fix.
Every name of the released sets fits them (checked against the published counts in
tests/test_benchmark_parsers.py and tests/test_market1501.py); pid and camera are read the same way.
"""

import os
import re
from dataclasses import dataclass
from pathlib import Path

from reid_lightning.data.market_layout import MARKET_FOLDERS
from reid_lightning.data.samples import DISTRACTOR_PID, JUNK_PID, Sample, Splits, relabel


@dataclass(frozen=True)
class NameFormat:
    """How one dataset names its images: a regex with named groups `pid` and `camid`, and its limits."""

    title: str  # "DukeMTMC-reID": how errors name the dataset
    pattern: re.Pattern  # matched against the file name; groups `pid` (may be -1) and `camid` (optional)
    example: str  # "PPPP_cC_fFFFFFFF.jpg (e.g. 0001_c2_f0046182.jpg)": shown when a name does not match
    num_cameras: int | None = None  # cameras first_camera..first_camera+num_cameras-1; None: no upper limit
    first_camera: int = 1  # the number of the first camera in file names (camid = number - first_camera)
    camera_prefix: str = ""  # how names spell a camera before its number ("c" in c3), for messages
    extensions: tuple[str, ...] = (".jpg",)  # lower-case image suffixes; other files (Thumbs.db) are ignored
    junk_pid: int | None = JUNK_PID  # images with this pid are dropped everywhere (None: no junk label)
    distractor_pid: int | None = DISTRACTOR_PID  # kept in the gallery only (None: an ordinary identity)
    how_to_fix: str = ""  # where to get the data / which option to set, appended to folder errors
    name_fix: str = "rename it or move it out of the folder"  # appended to a bad-name error
    camera_fix: str = ""  # appended to an out-of-range camera error

    @property
    def has_cameras(self) -> bool:
        return "camid" in self.pattern.groupindex

    def parse(self, path: Path) -> tuple[int, int | None]:
        """File name -> (raw pid, 0-based camid or None without a camid group); ValueError naming the file."""
        match = self.pattern.fullmatch(path.name)
        if match is None:
            raise ValueError(f"image {path} does not follow the {self.title} naming {self.example}; {self.name_fix}")
        pid = int(match.group("pid"))
        if not self.has_cameras:
            return pid, None
        camera = int(match.group("camid"))
        last = None if self.num_cameras is None else self.first_camera + self.num_cameras - 1
        if camera < self.first_camera or (last is not None and camera > last):
            c = self.camera_prefix
            allowed = f"{c}{self.first_camera}..{c}{last}" if last is not None else f">= {c}{self.first_camera}"
            raise ValueError(
                f"image {path} has camera {c}{camera}; {self.title} cameras are {allowed}"
                f"{'. ' + self.camera_fix if self.camera_fix else ''}"
            )
        return pid, camera - self.first_camera


def image_names(folder: Path, extensions: tuple[str, ...]) -> list[str]:
    """Sorted names of the image files directly in `folder` (one directory listing, no stat per file)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if os.path.splitext(e.name)[1].lower() in extensions)


def read_split_folder(
    folder: Path, fmt: NameFormat, dataset: str, keep_distractors: bool, missing_camid: int | None = None
) -> list[Sample]:
    """Every image of one split folder as a Sample with its raw pid, junk dropped, sorted by file name.

    Without a camera group in the pattern, every sample gets `missing_camid` (see camera_policy.py).
    """
    if not folder.is_dir():
        raise FileNotFoundError(f"{fmt.title} split folder {folder} is missing. {fmt.how_to_fix}")
    samples = []
    for name in image_names(folder, fmt.extensions):
        path = folder / name
        pid, camid = fmt.parse(path)
        if pid == fmt.junk_pid or (pid == fmt.distractor_pid and not keep_distractors):
            continue
        samples.append(Sample(path, pid, missing_camid if camid is None else camid, dataset))
    return samples


def find_tree(
    root: str | Path, fmt: NameFormat, release_folders: tuple[str, ...] = (), folders: dict[str, str] = MARKET_FOLDERS
) -> Path:
    """The folder holding the split folders: `root` itself or `root/<release folder>` (e.g. DukeMTMC-reID)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{fmt.title} root {root} does not exist. {fmt.how_to_fix}")
    candidates = [root, *(root / name for name in release_folders)]
    for candidate in candidates:
        if any((candidate / folder).is_dir() for folder in folders.values()):
            return candidate
    looked = ", ".join(str(c / folders["train"]) for c in candidates)
    raise FileNotFoundError(f"no {fmt.title} split folders in {root}: looked for {looked}. {fmt.how_to_fix}")


def load_market_style(
    tree: Path,
    fmt: NameFormat,
    dataset: str,
    folders: dict[str, str] = MARKET_FOLDERS,
    missing_camids: tuple[int, int, int] | None = None,
) -> Splits:
    """Parse a Market-style tree: train (relabelled), query and gallery (raw pids, distractors in gallery).

    `missing_camids` gives the (train, query, gallery) camid of every sample when the names carry no camera.
    """
    cams = missing_camids or (None, None, None)
    train, num_train_pids = relabel(read_split_folder(tree / folders["train"], fmt, dataset, False, cams[0]))
    query = read_split_folder(tree / folders["query"], fmt, dataset, False, cams[1])
    gallery = read_split_folder(tree / folders["gallery"], fmt, dataset, True, cams[2])
    return Splits(tree, train, query, gallery, num_train_pids, folder=dict(folders), name=dataset)
