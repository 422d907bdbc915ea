"""MSMT17 (both releases) on disk -> Splits, driven by the official list files.

Layout, V1 and V2 (faces blurred) differing only in the image folders' names:

    MSMT17_V1/{train, test}/<pid>/<image>.jpg            + list_{train,val,query,gallery}.txt
    MSMT17_V2/{mask_train_v2, mask_test_v2}/<pid>/...    + the same four lists

data.root may be the release folder or a folder holding one (`release: v1|v2` picks one when both are
there). Each list line is `<pid folder>/<image name> <pid>`, e.g.
`0000/0000_046_12_0303morning_0006_2_ex.jpg 0`: the image path relative to the train folder (train, val
lists) or the test folder (query, gallery lists), then the identity. Image names read
`PPPP_NNN_CC_DDDDslot_FFFF_K[_ex].jpg`: person id, image number, camera 1..15, date and time slot
(morning, noon, afternoon), frame, index (one or two digits); about 40 % of the released names carry a
further `_ex` suffix (12,699 of the 30,248 list_train lines, 34,156 of the 82,161 gallery lines).

What is read, as Torchreid and fast-reid read it (their `process_dir`): the identity from the list
(the list is the truth; the name's leading pid is not compared with it), the camera from the third
`_` field of the image name, whatever follows it. Two checks are ours, stricter than theirs: the
camera field must be an integer 1..15 (they would index a camera 0 or 16 silently, or crash with a
bare int() error), and the pid must be an integer; both fail naming the list file, the line and the
fix. Train and test ids both count from 0, so query and gallery keep their raw test ids (they never
meet train labels). After parsing the published lists (V1 and V2 ship the same four), with the val
list in train (`include_val`, as the dataset's paper counts it):

    train    32,621 images / 1,041 ids (30,248 list_train + 2,373 list_val; relabelled 0..1040)
    query    11,659 images / 3,060 ids
    gallery  82,161 images / 3,060 ids

The lists are the truth: images are not stat-ed one by one (126,441 of them); `verify_files: true`
checks them with one directory listing per identity folder, otherwise a missing image fails when read.
tests/fixtures/msmt17_lists.txt.xz holds the four published lists (scripts/make_msmt17_fixture.py).
"""

from pathlib import Path

from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.datasets.file_check import require_files
from reid_lightning.data.samples import Sample, Splits, relabel

RELEASES = {"MSMT17_V1": ("train", "test"), "MSMT17_V2": ("mask_train_v2", "mask_test_v2")}
LISTS = {"train": "list_train.txt", "val": "list_val.txt", "query": "list_query.txt", "gallery": "list_gallery.txt"}
NUM_CAMERAS = 15
CAMERA_FIELD = 2  # the camera is the third `_`-separated field of an image name, as Torchreid reads it
NAME_FORMAT = (
    "PPPP_NNN_CC_DDDDslot_FFFF_K[_ex].jpg, camera CC in the third '_' field (e.g. "
    "0000_046_12_0303morning_0006_2_ex.jpg)"
)
LINE_FORMAT = "'<pid folder>/<image name> <pid>' (e.g. '0000/0000_046_12_0303morning_0006_2_ex.jpg 0')"
HOW_TO_FIX = (
    "Unpack MSMT17_V1.tar.gz or MSMT17_V2.tar.gz with its list_*.txt files and set data.root=/path/to/"
    "MSMT17_V1 (or _V2, or their parent; the environment variable MSMT17_ROOT, or conf/local/)."
)


def _child(folder: Path, name: str) -> Path | None:
    """`folder/name`, matched case-insensitively (V2 archives spell mask_train_v2 with either case)."""
    if (folder / name).is_dir():
        return folder / name
    if not folder.is_dir():
        return None
    return next((p for p in folder.iterdir() if p.name.lower() == name.lower() and p.is_dir()), None)


def find_release(root: str | Path, release: str | None = None) -> tuple[Path, Path, Path]:
    """(release folder, train image folder, test image folder) under `root`."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"MSMT17 root {root} does not exist. {HOW_TO_FIX}")
    wanted = list(RELEASES)
    if release is not None:
        wanted = [name for name in RELEASES if name.lower() == f"msmt17_{str(release).lower()}"]
        if not wanted:
            raise ValueError(f"data.options.release={release!r} is unknown for msmt17; use v1, v2 or null (detect)")
    found = []
    for folder in (root, *(root / name for name in wanted)):
        for name in wanted:
            train, test = (_child(folder, sub) for sub in RELEASES[name])
            if train is not None and test is not None and (folder, train, test) not in found:
                found.append((folder, train, test))
    if not found:
        looked = ", ".join(f"{'/'.join(subs)}" for subs in RELEASES.values())
        raise FileNotFoundError(
            f"no MSMT17 release in {root}: looked for the image folders {looked} in it and in "
            f"{', '.join(wanted)}. {HOW_TO_FIX}"
        )
    if len(found) > 1:
        raise ValueError(
            f"{root} holds both MSMT17 releases ({', '.join(str(f[0]) for f in found)}); "
            "choose one with data.options.release=v1 or v2"
        )
    return found[0]


def parse_list_line(line: str, list_file: Path, number: int) -> tuple[str, int, int]:
    """`0000/0000_046_12_0303morning_0006_2_ex.jpg 0` -> (relative path, pid 0 from the list, camid 11 from the
    name's third `_` field); ValueError naming the file and line."""
    where = f"{list_file} line {number}"
    parts = line.split()
    if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
        raise ValueError(
            f"{where} reads {line.strip()!r}; MSMT17 list lines are {LINE_FORMAT}. "
            "Restore the list file from the release archive"
        )
    relative, pid = parts[0], int(parts[1])
    fields = relative.rsplit("/", 1)[-1].split("_")
    if len(fields) <= CAMERA_FIELD or not fields[CAMERA_FIELD].isdigit():
        raise ValueError(
            f"{where}: image {relative} has no camera number in its third '_' field; MSMT17 names "
            f"are {NAME_FORMAT}. Restore the list file from the release archive"
        )
    camera = int(fields[CAMERA_FIELD])
    if not 1 <= camera <= NUM_CAMERAS:
        raise ValueError(
            f"{where}: image {relative} has camera {camera}; MSMT17 cameras are 1..{NUM_CAMERAS}. "
            "Restore the list file from the release archive"
        )
    return relative, pid, camera - 1


def read_list(list_file: Path, image_folder: Path) -> list[Sample]:
    """The samples of one list file, in list order, with raw pids and paths under `image_folder`."""
    if not list_file.is_file():
        raise FileNotFoundError(f"MSMT17 list file {list_file} is missing. {HOW_TO_FIX}")
    samples = []
    with open(list_file) as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                relative, pid, camid = parse_list_line(line, list_file, number)
                samples.append(Sample(image_folder / relative, pid, camid, "msmt17"))
    return samples


@DATASETS.register("msmt17")
def load_msmt17(
    root: str | Path, release: str | None = None, include_val: bool = True, verify_files: bool = False
) -> Splits:
    """MSMT17 under `root`. `include_val` adds list_val.txt to train (the usual 32,621 images);
    `verify_files` checks every listed image exists (one listing per identity folder)."""
    folder, train_dir, test_dir = find_release(root, release)
    train = read_list(folder / LISTS["train"], train_dir)
    if include_val:
        train += read_list(folder / LISTS["val"], train_dir)
    query = read_list(folder / LISTS["query"], test_dir)
    gallery = read_list(folder / LISTS["gallery"], test_dir)
    if verify_files:
        require_files((s.path for s in train + query + gallery), f"the MSMT17 lists of {folder}", HOW_TO_FIX)
    train, num_train_pids = relabel(train)
    folders = {"train": train_dir.name, "query": test_dir.name, "gallery": test_dir.name}
    return Splits(folder, train, query, gallery, num_train_pids, folder=folders, name="msmt17")
