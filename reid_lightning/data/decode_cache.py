"""Decode once: a split's images (and part maps) stored as uint8 arrays at the input size, memory-mapped.

The per-file path decodes a JPEG, reads a PNG and resizes both for every sample of every epoch; here that
happens once per list of files, with a progress bar, into `<cache_dir>/<key>/images.npy` (N, 3, H, W) and
`part_maps.npy` (N, H, W) (raw source labels: a label grouping is applied per batch, so regrouping needs no
rebuild). The resize is the transforms' own (`build_resize`), so a cached array equals the first step of
the per-file transform pixel for pixel. Market-1501's 12,936 training images at 128x64 take 318 MB.

The key hashes everything the arrays depend on: each file's path, size and modification time (so a changed
file list, a replaced image or another part-map folder gives another key), the input size and resize
filter. A set is built under a file lock into a temporary folder that is renamed into place when complete,
so DDP ranks and sweep jobs that need the same arrays wait for the first builder and then share its files
(page cache included); a crashed build leaves nothing behind that looks complete.
"""

import fcntl
import hashlib
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import track
from torchvision import tv_tensors

from reid_lightning.data.transforms import TransformConfig, build_resize

CACHE_VERSION = 1  # bump when the stored layout or the decoding changes: old caches are then not reused
IMAGES, PART_MAPS, META = "images.npy", "part_maps.npy", "meta.json"


@dataclass(frozen=True)
class DecodedSet:
    """The arrays of one cached list of files (read-only memory maps) and the folder holding them."""

    folder: Path
    images: np.ndarray  # (N, 3, H, W) uint8
    part_maps: np.ndarray | None  # (N, H, W) uint8 source labels, or None without maps

    def __len__(self) -> int:
        return len(self.images)

    def __reduce__(self):
        """Pickled (spawned loader workers, DDP) as its folder, re-opened there: never the arrays themselves."""
        return open_decoded_set, (self.folder, self.part_maps is not None)


def open_decoded_set(folder: Path, with_maps: bool) -> DecodedSet:
    """Memory-map the arrays of a complete cache folder (read-only)."""
    return DecodedSet(folder, np.load(folder / IMAGES, mmap_mode="r"),
                      np.load(folder / PART_MAPS, mmap_mode="r") if with_maps else None)


def cache_key(images: Sequence[Path], part_maps: Sequence[Path] | None, cfg: TransformConfig) -> str:
    """A hash of the files (path, size, mtime), the input size and the resize filter."""
    digest = hashlib.sha256(json.dumps({"version": CACHE_VERSION, "height": cfg.height, "width": cfg.width,
                                        "interpolation": cfg.interpolation}).encode())
    for path in list(images) + list(part_maps or []):
        stat = Path(path).stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    digest.update(b"maps" if part_maps is not None else b"no maps")
    return digest.hexdigest()[:20]


def decoded_set(images: Sequence[Path], part_maps: Sequence[Path] | None, cfg: TransformConfig,
                cache_dir: str | Path, num_part_labels: int, description: str = "decoding") -> DecodedSet:
    """The cached arrays of these files: opened if a complete cache exists, else built first (once, under a
    lock shared by every process asking for the same key)."""
    if part_maps is not None and len(part_maps) != len(images):
        raise ValueError(f"{len(images)} images but {len(part_maps)} part maps; give one map per image")
    cache_dir = Path(cache_dir)
    key = cache_key(images, part_maps, cfg)
    folder = cache_dir / key
    if not (folder / META).is_file():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with open(cache_dir / f".{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
            if not (folder / META).is_file():
                _build(folder, images, part_maps, cfg, num_part_labels, description)
    return open_decoded_set(folder, part_maps is not None)


def _build(folder: Path, images: Sequence[Path], part_maps: Sequence[Path] | None, cfg: TransformConfig,
           num_part_labels: int, description: str) -> None:
    """Decode and resize every file into `<folder>.tmp-<pid>`, then rename it to `folder`."""
    from reid_lightning.data.dataset import read_image
    from reid_lightning.data.part_maps import load_part_map

    resize = build_resize(cfg)
    for stale in folder.parent.glob(f"{folder.name}.tmp-*"):  # of a killed builder (we hold the key's lock)
        shutil.rmtree(stale, ignore_errors=True)
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True)
    try:
        size = (cfg.height, cfg.width)
        pixels = np.lib.format.open_memmap(tmp / IMAGES, mode="w+", dtype=np.uint8, shape=(len(images), 3, *size))
        labels = None if part_maps is None else np.lib.format.open_memmap(
            tmp / PART_MAPS, mode="w+", dtype=np.uint8, shape=(len(images), *size))
        for i in track(range(len(images)), description=f"{description} ({len(images)} images, once)",
                       transient=True):
            image = read_image(images[i])  # (3, h, w) uint8
            if labels is None:
                pixels[i] = resize(tv_tensors.Image(image)).numpy()
                continue
            raw = load_part_map(part_maps[i], tuple(image.shape[1:]), num_part_labels, image_path=images[i])
            image, part_map = resize(tv_tensors.Image(image), tv_tensors.Mask(torch.from_numpy(raw.copy())))
            pixels[i], labels[i] = image.numpy(), part_map.numpy()
        pixels.flush()
        if labels is not None:
            labels.flush()
        del pixels, labels
        meta = {"version": CACHE_VERSION, "count": len(images), "height": cfg.height, "width": cfg.width,
                "interpolation": cfg.interpolation, "part_maps": part_maps is not None,
                "first_image": str(images[0]) if len(images) else None}
        (tmp / META).write_text(json.dumps(meta, indent=1))
        shutil.rmtree(folder, ignore_errors=True)  # an incomplete folder of an older crash
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
