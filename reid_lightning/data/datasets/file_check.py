"""Checking that listed image files exist, one directory listing per folder instead of one stat per file.

MSMT17 lists 126,441 images and a CSV manifest may list as many; a stat per file is slow on network
file systems, a listing per folder (4,101 identity folders for MSMT17) is not. Loaders call this only
when asked (`verify_files: true`); otherwise a missing file shows up when it is read, naming the file.
"""

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

SHOWN = 5  # missing files named in the error; the rest are counted


def missing_files(paths: Iterable[Path]) -> list[Path]:
    """The paths among `paths` that are not in their folder's listing (in their given order)."""
    by_folder: dict[Path, list[Path]] = defaultdict(list)
    for path in paths:
        by_folder[path.parent].append(path)
    missing = []
    for folder, wanted in by_folder.items():
        try:
            with os.scandir(folder) as entries:
                present = {e.name for e in entries}
        except FileNotFoundError:
            present = set()
        missing += [p for p in wanted if p.name not in present]
    return missing


def require_files(paths: Iterable[Path], source: str, how_to_fix: str) -> None:
    """FileNotFoundError naming the first missing files of `source` (a list file, a manifest) and the fix."""
    missing = missing_files(paths)
    if missing:
        shown = ", ".join(str(p) for p in missing[:SHOWN])
        more = f" and {len(missing) - SHOWN} more" if len(missing) > SHOWN else ""
        raise FileNotFoundError(f"{len(missing)} image(s) listed in {source} are missing: {shown}{more}. {how_to_fix}")
