"""What does the pre-flight data check (`data.verify=true`, `reid-data check`) cost on Market-sized data?

    python bench/verify_speed.py --root data/synthetic           # a Market-sized copy of that set, then time
    python bench/verify_speed.py --root /data/Market-1501 --as-is   # time a real dataset where it is

A Market-sized tree (12,936 train, 3,368 query, 15,913 gallery images, each with its part map) is made by
copying the images and maps of `--root` round-robin under Market names into a temporary folder (real files,
not links, so the page cache holds as much as for the real set). Then, side by side in the same run: the
reference, reading every file's bytes (the I/O floor), and the check with 1 thread and with the default
threads (decoding every image and map). Printed: seconds, CPU seconds, and the ratios against the reference.
The figures decide `data.verify`'s default (see conf/data/synthetic.yaml).
"""

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from reid_lightning.data.part_maps import default_part_root, part_map_path
from reid_lightning.data.verify import check_items, folder_items

MARKET_SIZES = {"bounding_box_train": 12936, "query": 3368, "bounding_box_test": 15913}


def market_sized_copy(source: Path, target: Path) -> Path:
    images = sorted(p for p in source.glob("*/*.jpg"))
    if not images:
        raise SystemExit(f"no images in {source}/*/; pass --root of a Market-layout set (e.g. data/synthetic)")
    for split, count in MARKET_SIZES.items():
        (target / split).mkdir(parents=True)
        (default_part_root(target) / split).mkdir(parents=True)
        for i in range(count):
            image = images[i % len(images)]
            name = f"{i % 1500 + 1:04d}_c{i % 6 + 1}s1_{i:06d}_00"
            shutil.copyfile(image, target / split / f"{name}.jpg")
            part_map = part_map_path(default_part_root(source), image.parent.name, image)
            if part_map.is_file():
                shutil.copyfile(part_map, part_map_path(default_part_root(target), split, Path(f"{name}.jpg")))
    return target


def timed(fn) -> tuple[float, float, object]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="a Market-layout dataset (images + part_maps/)")
    parser.add_argument("--as-is", action="store_true", help="time --root itself instead of a Market-sized copy")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = args.root if args.as_is else market_sized_copy(args.root, Path(scratch) / "market_sized")
        items = folder_items(root, default_part_root(root))
        files = [p for item in items for p in (item.image, item.part_map) if p is not None]
        print(f"{len(items)} images, {len(files) - len(items)} part maps below {root}")
        reference = timed(lambda: sum(len(p.read_bytes()) for p in files))
        rows = [("read every file's bytes (reference)", reference)]
        rows.append(("check, 1 thread", timed(lambda: check_items(items, workers=1, progress=False))))
        rows.append(("check, default threads", timed(lambda: check_items(items, progress=False))))
    print(f"{'':38} {'wall s':>8} {'cpu s':>8} {'x reference':>12}")
    for label, (wall, cpu, _) in rows:
        print(f"{label:38} {wall:8.1f} {cpu:8.1f} {wall / reference[0]:12.1f}")


if __name__ == "__main__":
    main()
