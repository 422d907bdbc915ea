"""Decode once: a split's images (and part maps) stored as uint8 arrays at the input size, memory-mapped.

The per-file path decodes a JPEG, reads a PNG and resizes both for every sample of every epoch; here that
happens once per list of files, with a progress bar, into `<cache_dir>/<key>/images.npy` (N, 3, H, W) and
`part_maps.npy` (N, H, W) (raw source labels: a label grouping is applied per batch, so regrouping needs no
rebuild). The resize is the transforms' own (`build_resize`), so a cached array equals the first step of
the per-file transform pixel for pixel. Market-1501's 12,936 training images at 128x64 take 318 MB.

What is served is what the files hold now:
- The key hashes everything the arrays depend on: each file's path, size, modification time and a hash of
  its content (`file_fingerprint`: the whole file up to 64 KiB, which is every re-ID crop, else its first,
  middle and last 16 KiB), the input size and resize filter. An image replaced by another of the same size
  with its old mtime restored gets another key. Cost: one small read per file per run (bench/cache_key.py).
- The arrays are checked when a process opens them: their size, shape and CRC-32 against what the build
  recorded in meta.json. A truncated or altered file is logged by name and the set rebuilt.

A set is built under a file lock into a temporary folder that is renamed into place when complete, so DDP
ranks and sweep jobs that need the same arrays wait for the first builder and then share its files (page
cache included); a crashed build leaves nothing behind that looks complete. The free space is checked
before a build, and arrays are written with ordinary writes (not through a writable memory map, where a
full disk kills the process with SIGBUS): a full disk is `OSError: cannot write <file>: No space left on
device`, with the partial folder removed.
"""

import errno
import fcntl
import hashlib
import io
import json
import logging
import os
import shutil
import zlib
from collections.abc import Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.progress import track
from torchvision import tv_tensors

from reid_lightning.data.images import read_image
from reid_lightning.data.part_maps import load_part_map
from reid_lightning.data.transforms import TransformConfig, build_resize

log = logging.getLogger(__name__)
CACHE_VERSION = 2  # bump when the stored layout or the decoding changes: old caches are then not reused
IMAGES, PART_MAPS, META = "images.npy", "part_maps.npy", "meta.json"
FULL_HASH_BYTES = 64 * 1024  # files up to this size are hashed whole (a re-ID crop is 2-20 KB)
SAMPLE_BYTES = 16 * 1024  # larger files: their first, middle and last this many bytes
FREE_SPACE_MARGIN = 1 << 20  # left free beyond the arrays' size
CHUNK = 1 << 24  # read / checksum granularity


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
    """Memory-map the arrays of a complete cache folder (read-only; checked by `decoded_set` in this run)."""
    return DecodedSet(
        folder,
        np.load(folder / IMAGES, mmap_mode="r"),
        np.load(folder / PART_MAPS, mmap_mode="r") if with_maps else None,
    )


def file_fingerprint(path: Path, size: int) -> str:
    """A hash of the file's content: whole up to FULL_HASH_BYTES, else its first, middle and last SAMPLE_BYTES."""
    digest = hashlib.blake2b(digest_size=8)
    with open(path, "rb") as file:
        if size <= FULL_HASH_BYTES:
            digest.update(file.read())
        else:
            for offset in (0, size // 2 - SAMPLE_BYTES // 2, size - SAMPLE_BYTES):
                file.seek(offset)
                digest.update(file.read(SAMPLE_BYTES))
    return digest.hexdigest()


def cache_key(
    images: Sequence[Path],
    part_maps: Sequence[Path] | None,
    cfg: TransformConfig,
    description: str = "the decode cache",
) -> str:
    """A hash of the files (path, size, mtime, content fingerprint), the input size and the resize filter.
    Files that do not exist raise one FileNotFoundError naming them."""
    digest = hashlib.sha256(
        json.dumps(
            {"version": CACHE_VERSION, "height": cfg.height, "width": cfg.width, "interpolation": cfg.interpolation}
        ).encode()
    )
    files = list(images) + list(part_maps or [])
    missing = []
    for path in files:
        try:
            stat = Path(path).stat()
            fingerprint = file_fingerprint(path, stat.st_size)
        except FileNotFoundError:
            missing.append(path)
            continue
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\0{fingerprint}\n".encode())
    if missing:
        examples = ", ".join(str(p) for p in missing[:3])
        raise FileNotFoundError(
            f"{len(missing)} of the {len(files)} files of {description} do not exist (e.g. "
            f"{examples}); fix the dataset's file list (a CSV manifest's paths are relative to "
            "its folder) or restore the files"
        )
    digest.update(b"maps" if part_maps is not None else b"no maps")
    return digest.hexdigest()[:20]


def damage(folder: Path, count: int, size: tuple[int, int], with_maps: bool) -> str | None:
    """Why the cache folder does not hold what its build recorded (None when every array file matches)."""
    try:
        meta = json.loads((folder / META).read_text())
        files = meta["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return f"{folder / META} is unreadable ({type(err).__name__}: {err})"
    expected = {IMAGES: (count, 3, *size), **({PART_MAPS: (count, *size)} if with_maps else {})}
    for name, shape in expected.items():
        path, record = folder / name, files.get(name) or {}
        try:
            found = path.stat().st_size
            if found != record.get("bytes"):
                return f"{path} has {found} bytes, its build wrote {record.get('bytes')}"
            with open(path, "rb") as file:
                np.lib.format.read_magic(file)
                header_shape = np.lib.format.read_array_header_1_0(file)[0]
            if tuple(header_shape) != shape:
                return f"{path} holds shape {tuple(header_shape)}, expected {shape}"
            if checksum(path) != record.get("crc32"):
                return f"{path} does not match its recorded checksum (its content changed after it was written)"
        except (OSError, ValueError) as err:
            return f"{path} is unreadable ({type(err).__name__}: {err})"
    return None


def checksum(path: Path) -> int:
    """CRC-32 of a whole file, read in chunks."""
    crc = 0
    with open(path, "rb") as file:
        while chunk := file.read(CHUNK):
            crc = zlib.crc32(chunk, crc)
    return crc


def decoded_set(
    images: Sequence[Path],
    part_maps: Sequence[Path] | None,
    cfg: TransformConfig,
    cache_dir: str | Path,
    num_part_labels: int,
    description: str = "decoding",
) -> DecodedSet:
    """The cached arrays of these files: opened if a complete cache exists and matches its record, else built
    first (once, under a lock shared by every process asking for the same key)."""
    if part_maps is not None and len(part_maps) != len(images):
        raise ValueError(f"{len(images)} images but {len(part_maps)} part maps; give one map per image")
    cache_dir = Path(cache_dir)
    key = cache_key(images, part_maps, cfg, description=description)
    folder, with_maps, size = cache_dir / key, part_maps is not None, (cfg.height, cfg.width)
    if (folder / META).is_file():
        problem = damage(folder, len(images), size, with_maps)
        if problem is None:
            return open_decoded_set(folder, with_maps)
        log.warning("Decode cache damaged: %s; rebuilding %s", problem, folder)
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f".{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, also if this process dies
        if not (folder / META).is_file() or damage(folder, len(images), size, with_maps) is not None:
            _build(folder, images, part_maps, cfg, num_part_labels, description)
    return open_decoded_set(folder, with_maps)


def required_bytes(count: int, cfg: TransformConfig, with_maps: bool) -> int:
    """Disk space of a set's arrays (headers are a few hundred bytes)."""
    return count * cfg.height * cfg.width * (3 + int(with_maps)) + 1024


def check_free_space(folder: Path, needed: int) -> None:
    """OSError (ENOSPC) naming the folder, the space needed and free, and the fix, when the arrays cannot fit."""
    free = shutil.disk_usage(folder).free
    if free < needed + FREE_SPACE_MARGIN:
        raise OSError(
            errno.ENOSPC,
            f"cannot write {folder}: {os.strerror(errno.ENOSPC)} (the decode cache needs "
            f"{needed / 1e6:.1f} MB, {free / 1e6:.1f} MB are free). Free disk space, set "
            "data.cache_dir to a folder on a larger disk, or data.cache=false",
        )


@contextmanager
def writing(path: Path):
    """Turn a failed write of `path` (a full disk, a quota, a read-only folder) into OSError naming the file."""
    try:
        yield
    except OSError as err:
        raise OSError(
            err.errno,
            f"cannot write {path}: {err.strerror or err}; the partial decode cache was removed. "
            "Free disk space, set data.cache_dir to a folder on a larger disk, or "
            "data.cache=false",
        ) from err


class ArrayFile:
    """A .npy file written with ordinary writes, one row at a time, its CRC-32 kept as it goes."""

    def __init__(self, path: Path, shape: tuple[int, ...]):
        self.path, self.crc, self.bytes = path, 0, 0
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(
            header, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False, "shape": shape}
        )
        with writing(path):
            self.file = open(path, "wb")  # noqa: SIM115 (closed by close() or abandon())
        self.write(header.getvalue())

    def write(self, data) -> None:
        data = data if isinstance(data, bytes) else np.ascontiguousarray(data, dtype=np.uint8).tobytes()
        self.crc, self.bytes = zlib.crc32(data, self.crc), self.bytes + len(data)
        with writing(self.path):
            self.file.write(data)

    def close(self) -> dict:
        """Flush to disk (a full disk raises here at the latest); returns the record kept in meta.json."""
        with writing(self.path):
            try:
                self.file.flush()
                os.fsync(self.file.fileno())
            finally:
                self.abandon()
        return {"bytes": self.bytes, "crc32": self.crc}

    def abandon(self) -> None:
        with suppress(OSError):  # the buffered rest may not fit either: the file is removed anyway
            self.file.close()


def _build(
    folder: Path,
    images: Sequence[Path],
    part_maps: Sequence[Path] | None,
    cfg: TransformConfig,
    num_part_labels: int,
    description: str,
) -> None:
    """Decode and resize every file into `<folder>.tmp-<pid>`, then rename it to `folder`."""
    resize = build_resize(cfg)
    for stale in folder.parent.glob(f"{folder.name}.tmp-*"):  # of a killed builder (we hold the key's lock)
        shutil.rmtree(stale, ignore_errors=True)
    check_free_space(folder.parent, required_bytes(len(images), cfg, part_maps is not None))
    tmp = folder.with_name(f"{folder.name}.tmp-{os.getpid()}")
    arrays = []
    try:
        with writing(tmp):
            tmp.mkdir(parents=True)
        size = (cfg.height, cfg.width)
        pixels = ArrayFile(tmp / IMAGES, (len(images), 3, *size))
        arrays.append(pixels)
        labels = None if part_maps is None else ArrayFile(tmp / PART_MAPS, (len(images), *size))
        arrays += [labels] if labels is not None else []
        for i in track(range(len(images)), description=f"{description} ({len(images)} images, once)", transient=True):
            image = read_image(images[i])  # (3, h, w) uint8
            if labels is None:
                pixels.write(resize(tv_tensors.Image(image)).numpy())
                continue
            raw = load_part_map(part_maps[i], tuple(image.shape[1:]), num_part_labels, image_path=images[i])
            image, part_map = resize(tv_tensors.Image(image), tv_tensors.Mask(torch.from_numpy(raw.copy())))
            pixels.write(image.numpy())
            labels.write(part_map.numpy())
        files = {array.path.name: array.close() for array in arrays}
        meta = {
            "version": CACHE_VERSION,
            "count": len(images),
            "height": cfg.height,
            "width": cfg.width,
            "interpolation": cfg.interpolation,
            "part_maps": part_maps is not None,
            "first_image": str(images[0]) if len(images) else None,
            "files": files,
        }
        with writing(tmp / META):
            (tmp / META).write_text(json.dumps(meta, indent=1))
        shutil.rmtree(folder, ignore_errors=True)  # an incomplete or damaged folder of an older build
        os.replace(tmp, folder)
    finally:
        for array in arrays:
            array.abandon()
        shutil.rmtree(tmp, ignore_errors=True)
