"""What does it cost to key the decode cache on file content, and to check its arrays when opening them?

    python bench/cache_key.py [--files 12936] [--kb 4] [--large 200]

Made in a temporary folder: `--files` files of `--kb` KiB (a Market-1501 crop is 2-6 KiB: its 12,936 train
images are the default count) and `--large` files of 1 MiB (photos, not crops). Then, side by side in the
same run, page cache warm (read once before timing, as on a second run):
- reference: the old key, `stat` only (path, size, mtime): misses a same-size replacement with its mtime kept;
- sampled: stat + the fingerprint used now (whole file up to 64 KiB, else first/middle/last 16 KiB);
- full: stat + a hash of every byte of every file;
and the CRC-32 check of an array file of Market's training set at 128x64 (318 MB) done when a cache is opened.
Printed: seconds and the ratio against the reference.
"""

import argparse
import hashlib
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from reid_lightning.data.decode_cache import checksum, file_fingerprint


def make_files(folder: Path, count: int, size: int, name: str) -> list[Path]:
    rng = np.random.default_rng(0)
    block = rng.integers(0, 256, size + count, dtype=np.uint8).tobytes()
    paths = []
    for i in range(count):
        path = folder / f"{name}_{i:05d}.jpg"
        path.write_bytes(block[i : i + size])
        paths.append(path)
    return paths


def stat_only(paths):
    return [(os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in paths]


def sampled(paths):
    return [file_fingerprint(p, os.stat(p).st_size) for p in paths]


def full(paths):
    out = []
    for p in paths:
        os.stat(p)
        out.append(hashlib.blake2b(Path(p).read_bytes(), digest_size=8).hexdigest())
    return out


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=12936)
    parser.add_argument("--kb", type=int, default=4)
    parser.add_argument("--large", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        crops = make_files(folder, args.files, args.kb * 1024, "crop")
        photos = make_files(folder, args.large, 1 << 20, "photo")
        for name, paths in ((f"{args.files} crops of {args.kb} KiB", crops), (f"{args.large} files of 1 MiB", photos)):
            full(paths)  # warm the page cache
            reference = timed(stat_only, paths)
            print(f"{name}: stat only {reference:.3f} s (reference)")
            for label, function in (("sampled fingerprint", sampled), ("full content hash", full)):
                seconds = timed(function, paths)
                print(
                    f"  {label}: {seconds:.3f} s ({seconds / reference:.1f}x the reference, "
                    f"{1e6 * (seconds - reference) / len(paths):.0f} us more per file)"
                )
        array = folder / "images.npy"
        array.write_bytes(np.random.default_rng(1).integers(0, 256, 12936 * 3 * 128 * 64, dtype=np.uint8).tobytes())
        checksum(array)  # warm
        seconds = timed(checksum, array)
        print(
            f"CRC-32 of a {array.stat().st_size / 1e6:.0f} MB array file (checked when a cache is opened): "
            f"{seconds:.3f} s ({array.stat().st_size / 1e9 / seconds:.2f} GB/s)"
        )


if __name__ == "__main__":
    main()
