"""Where part maps live on disk: the images of a Market-format dataset and the map of each one.

The data module reads `<root>/part_maps/<split>/<image stem>.png` (a uint8, single-channel PNG of the
image's size) for the splits bounding_box_train, bounding_box_test and query; `root` is the folder
given as data.root (the dataset folder itself, or its parent holding Market-1501-v15.09.15/).
Maps are written to a temporary file and renamed, so an interrupted run never leaves a truncated
map that a resumed run would skip.
"""

import os
from pathlib import Path

import numpy as np
from PIL import Image

from reid_lightning.data.datasets.market1501 import resolve_root
from reid_lightning.data.market_layout import GALLERY_FOLDER, QUERY_FOLDER, TRAIN_FOLDER
from reid_lightning.data.part_maps import default_part_root

SPLITS = (TRAIN_FOLDER, GALLERY_FOLDER, QUERY_FOLDER)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def default_out(root: str | Path) -> Path:
    """The part-map folder the data module reads by default: `<root>/part_maps`."""
    return default_part_root(root)


def check_splits(splits: list[str] | tuple[str, ...] | None) -> tuple[str, ...]:
    """The chosen split folders (all by default); an unknown name is an error listing the known ones."""
    if not splits:
        return SPLITS
    unknown = [s for s in splits if s not in SPLITS]
    if unknown:
        raise ValueError(f"unknown split {unknown[0]!r}; choose from {', '.join(SPLITS)}")
    return tuple(splits)


def split_images(root: str | Path, split: str) -> list[Path]:
    """The images of one split folder, sorted by file name (MATLAB's `dir` order, too)."""
    folder = resolve_root(root) / split
    if not folder.is_dir():
        raise FileNotFoundError(f"split folder {folder} does not exist; check --root and --split")
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def dataset_images(root: str | Path, splits: list[str] | tuple[str, ...] | None = None) -> list[tuple[str, Path]]:
    """(split, image path) for every image in the split folders that exist under `root`."""
    base = resolve_root(root)
    images = [
        (split, path) for split in check_splits(splits) if (base / split).is_dir() for path in split_images(base, split)
    ]
    if not images:
        raise FileNotFoundError(
            f"no images in {', '.join(str(base / s) for s in check_splits(splits))}; "
            "point --root at a Market-format dataset"
        )
    return images


def read_rgb(path: Path) -> np.ndarray:
    """An image as RGB uint8 (H, W, 3)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def image_size(path: Path) -> tuple[int, int]:
    """(H, W) of an image, read from its header only."""
    with Image.open(path) as img:
        return img.height, img.width


def write_map(path: Path, labels: np.ndarray) -> None:
    """Write a label map (H, W) uint8 as a mode-L PNG, atomically."""
    if labels.ndim != 2 or labels.dtype != np.uint8:
        raise ValueError(f"part map for {path} must be (H, W) uint8, got {labels.dtype} {labels.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    Image.fromarray(labels, mode="L").save(partial, format="PNG")
    os.replace(partial, path)
