"""Fake benchmark trees for parser tests: real file naming, real split sizes, empty files.

Parsing reads names only, so every image is an empty file. Identity counts and image counts per split
are the published ones; images are spread over identities as evenly as the totals allow (`spread`).
Files are created with os.open (four times faster than Path.touch), on tmpfs when the machine has one:
36,000 empty files take 0.4 s in /dev/shm and 4-6 s on the disk of this (busy, shared) machine.
"""

import lzma
import os
import random
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

TMPFS = Path("/dev/shm")


def scratch_folder(tmp_path_factory, name: str) -> Iterator[Path]:
    """For a module fixture (`yield from`): a fresh folder on tmpfs if writable, else pytest's tmp folder."""
    if TMPFS.is_dir() and os.access(TMPFS, os.W_OK):
        folder = Path(tempfile.mkdtemp(prefix=f"reid-test-{name}-", dir=TMPFS))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    else:
        yield tmp_path_factory.mktemp(name)


def touch_all(folder: Path, names: list[str]) -> None:
    """Create `folder` and an empty file per name (names may hold one sub-folder, MSMT17-style)."""
    folder.mkdir(parents=True, exist_ok=True)
    for sub in {name.rpartition("/")[0] for name in names} - {""}:
        (folder / sub).mkdir(exist_ok=True)
    for name in names:
        os.close(os.open(folder / name, os.O_CREAT | os.O_WRONLY, 0o644))


def spread(total: int, num_ids: int) -> list[int]:
    """Images per identity: `total` over `num_ids` as evenly as possible (the first ones get one more)."""
    base, extra = divmod(total, num_ids)
    return [base + (k < extra) for k in range(num_ids)]


def disjoint_pids(sizes: list[int], highest: int, seed: int = 0) -> list[list[int]]:
    """Disjoint sorted pid lists of the given sizes drawn from 1..highest."""
    pool = random.Random(seed).sample(range(1, highest + 1), sum(sizes))
    out, start = [], 0
    for size in sizes:
        out.append(sorted(pool[start : start + size]))
        start += size
    return out


# DukeMTMC-reID: PPPP_cC_fFFFFFFF.jpg, 8 cameras.
DUKE_SIZES = {"bounding_box_train": (16522, 702), "query": (2228, 702), "bounding_box_test": (17661, 1110)}


def make_duke(tree: Path) -> None:
    """A DukeMTMC-reID tree: 702 train ids, 702 test ids in query and gallery, 408 gallery-only distractors."""
    train_ids, test_ids, distractor_ids = disjoint_pids([702, 702, 408], 7140)
    ids = {"bounding_box_train": train_ids, "query": test_ids, "bounding_box_test": test_ids + distractor_ids}
    for split, (total, num_ids) in DUKE_SIZES.items():
        names = [
            f"{pid:04d}_c{(i + k) % 8 + 1}_f{1000 * k + i:07d}.jpg"
            for k, (pid, count) in enumerate(zip(ids[split], spread(total, num_ids), strict=True))
            for i in range(count)
        ]
        touch_all(tree / split, names + ["Thumbs.db"])


# CUHK03-NP: PPPP_cC_N.png, cameras 1-2, pids 1..1467 (767 train, 700 test).
CUHK03_NP_SIZES = {
    "detected": {"bounding_box_train": 7365, "query": 1400, "bounding_box_test": 5332},
    "labeled": {"bounding_box_train": 7368, "query": 1400, "bounding_box_test": 5328},
}


def make_cuhk03_np(release: Path) -> None:
    """`release`/{detected,labeled}/{bounding_box_train,query,bounding_box_test} with the published sizes."""
    pids = list(range(1, 1468))
    random.Random(1).shuffle(pids)
    train_ids, test_ids = sorted(pids[:767]), sorted(pids[767:])
    for variant, sizes in CUHK03_NP_SIZES.items():
        number = 0
        for split, total in sizes.items():
            ids = train_ids if split == "bounding_box_train" else test_ids
            names = []
            for pid, count in zip(ids, spread(total, len(ids)), strict=True):
                for i in range(count):
                    number += 1
                    names.append(f"{pid:04d}_c{i % 2 + 1}_{number}.png")
            touch_all(release / variant / split, names)


# MSMT17: list lines '<pid folder>/<name> <pid>', names PPPP_NNN_CC_DDDDslot_FFFF_K.jpg, 15 cameras.
MSMT17_LISTS = {
    "list_train.txt": (30248, 1041),
    "list_val.txt": (2373, 1041),
    "list_query.txt": (11659, 3060),
    "list_gallery.txt": (82161, 3060),
}
SLOTS = ("0113morning", "0114noon", "0302afternoon", "0303morning")


def msmt17_lines(total: int, num_ids: int, offset: int) -> list[str]:
    """List lines for pids 0..num_ids-1; `offset` keeps image numbers of different lists apart."""
    lines = []
    for pid, count in enumerate(spread(total, num_ids)):
        for i in range(count):
            n, camera = offset + i, (pid + offset + i) % 15 + 1
            lines.append(f"{pid:04d}/{pid:04d}_{n:03d}_{camera:02d}_{SLOTS[n % 4]}_{n:04d}_{n % 3}.jpg {pid}")
    return lines


def write_msmt17_lists(release: Path, image_folders: tuple[str, str], images: bool = False) -> dict[str, list[str]]:
    """The four full-size lists and the two image folders, with every listed image if `images`
    (126,441 files: ~1 s on tmpfs); returns the lines per list."""
    for folder in image_folders:
        (release / folder).mkdir(parents=True, exist_ok=True)
    lines = {}
    for offset, (name, (total, num_ids)) in enumerate(MSMT17_LISTS.items()):
        lines[name] = msmt17_lines(total, num_ids, 100 * offset)
        (release / name).write_text("\n".join(lines[name]) + "\n")
        if images:
            folder = image_folders[0] if name in ("list_train.txt", "list_val.txt") else image_folders[1]
            touch_all(release / folder, [line.split()[0] for line in lines[name]])
    return lines


# MSMT17's published lists (tests/fixtures/msmt17_lists.txt.xz, from scripts/make_msmt17_fixture.py).
PUBLISHED_MSMT17 = Path(__file__).parent / "fixtures" / "msmt17_lists.txt.xz"


def published_msmt17_lists() -> dict[str, list[str]]:
    """The four real list files' lines by file name ('0000/0000_046_12_0303morning_0006_2_ex.jpg 0', ...)."""
    lists: dict[str, list[str]] = {}
    for line in lzma.decompress(PUBLISHED_MSMT17.read_bytes()).decode().splitlines():
        if line.startswith("# "):
            current = lists.setdefault(line[2:], [])
        elif line:
            current.append(line)
    return lists


def write_published_msmt17(release: Path, image_folders: tuple[str, str], images: bool = True) -> dict[str, list[str]]:
    """A release tree from the real lists: the four list files and, if `images`, every listed image (empty)."""
    lists = published_msmt17_lists()
    for name, lines in lists.items():
        (release / name).parent.mkdir(parents=True, exist_ok=True)
        (release / name).write_text("\n".join(lines) + "\n")
        folder = image_folders[0] if name in ("list_train.txt", "list_val.txt") else image_folders[1]
        (release / folder).mkdir(parents=True, exist_ok=True)
        if images:
            touch_all(release / folder, [line.split()[0] for line in lines])
    return lists
