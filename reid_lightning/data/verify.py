"""The pre-flight data check: every split has images, and every image and part map can be used.

Without it, bad content is found late: an empty query or gallery folder gives NaN metrics at the very end,
an empty train folder a puzzling "choose 1..0", and a truncated or zero-byte gallery image, or a part map of
the wrong size, in colour (RGB) or with labels out of range, fails only when the test phase reaches it,
after the whole training. Here each image and part map is opened and fully decoded once, in a thread pool
(PIL releases the GIL while decoding) with a progress bar, and every bad file is reported in one list
before training starts.

Used by train.py / eval.py when `data.verify=true` (the split check always runs), and from the command
line on any Market-layout folder: `reid-data check <root> [--part-maps DIR]`.
"""

import argparse
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from reid_lightning.data.images import UnreadableImage, read_rgb
from reid_lightning.data.part_maps import (
    NUM_PART_LABELS,
    default_part_root,
    load_part_map,
    part_map_path,
    part_map_paths,
)
from reid_lightning.data.samples import Splits

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
SHOWN_PROBLEMS = 50  # an error lists at most this many files (all go to the log / the command's output)


@dataclass(frozen=True)
class Item:
    """One image to check, with its part map (None: maps not used)."""

    image: Path
    part_map: Path | None = None


@dataclass(frozen=True)
class Problem:
    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


class BadDataError(ValueError):
    """Files that would fail the run later; the message lists them all (up to SHOWN_PROBLEMS)."""


def require_samples(splits: Splits, names: Sequence[str]) -> None:
    """ValueError naming each split folder of `names` that holds no usable image."""
    empty = [name for name in names if not getattr(splits, name)]
    if not empty:
        return
    folders = ", ".join(f"{name} folder {Path(splits.root) / splits.folder[name]}" for name in empty)
    needs = {"train": "nothing to train on", "query": "no query to rank", "gallery": "nothing to rank queries against"}
    raise ValueError(
        f"dataset {splits.name or '?'}: the {folders} holds no usable images "
        f"({'; '.join(needs.get(n, '') for n in empty)}); junk images (pid -1) do not count. Put the "
        "images there in the dataset's naming, or point data.root at the complete dataset."
    )


def require_disjoint_query_gallery(splits: Splits) -> None:
    """ValueError naming the files listed both as query and as gallery images (a query would be ranked
    against itself: the protocol drops that match as same camera, so the user's test is not what they meant)."""
    gallery = {s.path for s in splits.gallery}
    both = list(dict.fromkeys(s.path for s in splits.query if s.path in gallery))
    if both:
        examples = ", ".join(str(p) for p in both[:3])
        raise ValueError(
            f"dataset {splits.name or '?'} at {splits.root}: {len(both)} image(s) are both query and "
            f"gallery images (e.g. {examples}); list each image in one split only (a CSV manifest: one "
            "row per image)"
        )


def check_item(item: Item, num_part_labels: int) -> list[Problem]:
    """Decode the image fully (a truncated file fails here), then check its part map against it (size, mode,
    labels); the map of an unreadable image is not checked (its size is unknown)."""
    try:
        size = read_rgb(item.image).shape[:2]  # decoded as training decodes it (EXIF orientation, 16-bit scaled)
    except UnreadableImage as err:
        cause = err.__cause__
        reason = "empty file (0 bytes)" if _is_empty(item.image) else f"unreadable image ({cause or err})"
        return [Problem(item.image, reason + "; replace it from the original dataset or delete it")]
    if item.part_map is None:
        return []
    try:
        load_part_map(item.part_map, size, num_part_labels, image_path=item.image)
    except (FileNotFoundError, ValueError) as err:
        return [Problem(item.part_map, str(err).removeprefix(f"part map {item.part_map} "))]
    return []


def _is_empty(path: Path) -> bool:
    try:
        return path.stat().st_size == 0
    except OSError:
        return False


def check_items(
    items: Sequence[Item], num_part_labels: int = NUM_PART_LABELS, workers: int | None = None, progress: bool = True
) -> list[Problem]:
    """Every problem of `items`, in their order; `workers` threads (default: cores x 2, I/O bound)."""
    workers = workers or min(32, 2 * (os.cpu_count() or 1))
    columns = (TextColumn("checking images and part maps"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with ThreadPoolExecutor(workers) as pool, Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("check", total=len(items))
        problems = []
        for found in pool.map(lambda item: check_item(item, num_part_labels), items):
            problems += found
            bar.advance(task)
    return problems


def raise_problems(problems: Sequence[Problem], where: str) -> None:
    if not problems:
        return
    shown = "\n".join(f"  {p}" for p in problems[:SHOWN_PROBLEMS])
    more = f"\n  ... and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    raise BadDataError(
        f"{len(problems)} bad file(s) in {where}; fix or remove them before training "
        f"(`reid-data check` lists them again; data.verify=false skips this check):\n{shown}{more}"
    )


def splits_items(splits: Splits, part_root: Path | None, names: Sequence[str]) -> list[Item]:
    """The images of splits `names` with their part maps (part_root None: images only)."""
    items = []
    for name in names:
        samples = getattr(splits, name)
        maps = part_map_paths(samples, splits.root, part_root) if part_root is not None else [None] * len(samples)
        items += [Item(s.path, m) for s, m in zip(samples, maps, strict=True)]
    return items


def check_data(
    datasets: Sequence[tuple[Splits, Sequence[str], Path | None]], num_part_labels: int, verify: bool
) -> None:
    """Pre-flight over (splits, split names, part-map folder or None) per dataset: every named split must hold
    images; with `verify`, every image (and part map) must be usable, all bad files in one error."""
    for splits, names, _ in datasets:
        require_samples(splits, names)
        if "query" in names and "gallery" in names:
            require_disjoint_query_gallery(splits)
    if verify:
        items = [item for splits, names, part_root in datasets for item in splits_items(splits, part_root, names)]
        raise_problems(check_items(items, num_part_labels), ", ".join(f"dataset {s.root}" for s, _, _ in datasets))


def check_datamodule(datamodule, train: bool, test: bool) -> None:
    """check_data on a ReIDDataModule: the train split of each source (`train`) and query + gallery of each
    target (`test`), with the part maps the run will load, under its `data.verify` switch."""
    roles = [(datamodule.sources, ("train",), datamodule.load_train_part_maps)] if train else []
    roles += [(datamodule.targets, ("query", "gallery"), datamodule.load_part_maps)] if test else []
    datasets = [
        (datamodule.splits(spec.key), names, spec.part_root if with_maps else None)
        for specs, names, with_maps in roles
        for spec in specs
    ]
    check_data(datasets, datamodule.cfg.num_part_labels, datamodule.cfg.verify)


# ---------------------------------------------------------------- command line: reid-data check <root>
def folder_items(root: Path, part_root: Path | None, exclude: Path | None = None) -> list[Item]:
    """Every image below `root` (outside the part-map folder and `exclude`, the default one), with its part map
    where the part-map folder has the image's split folder (Market's gt_bbox/, say, has no maps and is checked
    for images only)."""
    skipped = [folder for folder in (part_root, exclude) if folder is not None]
    images = sorted(
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(p.is_relative_to(folder) for folder in skipped)
    )

    def map_of(image: Path) -> Path | None:
        split = image.parent.relative_to(root)
        return part_map_path(part_root, split, image) if part_root and (part_root / split).is_dir() else None

    return [Item(p, map_of(p)) for p in images]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="reid-data", description="Dataset tools of reid-lightning.")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="open every image and part map once; list every bad file")
    check.add_argument("root", type=Path, help="dataset folder (as data.root), e.g. data/synthetic")
    check.add_argument(
        "--part-maps",
        type=Path,
        default=None,
        help="part-map folder (default: <root>/part_maps; checked when it exists)",
    )
    check.add_argument("--no-part-maps", action="store_true", help="check the images only")
    check.add_argument(
        "--num-part-labels",
        type=int,
        default=NUM_PART_LABELS,
        help=f"labels allowed in a map: 0..N-1 (default {NUM_PART_LABELS}, Pascal-Person-Part)",
    )
    check.add_argument("--workers", type=int, default=None, help="threads (default: 2 x cores)")
    check.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    root = args.root.expanduser()
    if not root.is_dir():
        parser.error(f"{root} is not a folder")
    if args.part_maps is not None and not args.no_part_maps and not args.part_maps.expanduser().is_dir():
        parser.error(
            f"--part-maps {args.part_maps} is not a folder; pass the folder holding <split>/<image stem>.png "
            f"(default {default_part_root(root)}), or --no-part-maps to check the images only"
        )
    part_root = None if args.no_part_maps else (args.part_maps or default_part_root(root)).expanduser()
    items = folder_items(root, part_root, exclude=default_part_root(root))
    if not items:
        print(f"no images ({', '.join(IMAGE_SUFFIXES)}) below {root}", file=sys.stderr)
        return 1
    problems = check_items(items, args.num_part_labels, args.workers, progress=not args.no_progress)
    maps = sum(item.part_map is not None for item in items)
    print(f"checked {len(items)} images and {maps} part maps below {root}: {len(problems)} bad file(s)")
    for problem in problems:
        print(f"  {problem}")
    return 1 if problems else 0


def cli() -> None:
    sys.exit(main())
