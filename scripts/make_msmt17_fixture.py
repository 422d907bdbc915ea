"""Build tests/fixtures/msmt17_lists.txt.xz: MSMT17's four published list files, byte for byte, in one file.

Where they come from: the public repository https://github.com/SamvitJ/MSMT17-Dataset (commit
7c2720630221b755ec28701588d8b68b1eb31005, "Initial commit - MSMT17 metadata", 2018) holds the release's
`list_train.txt`, `list_val.txt`, `list_query.txt` and `list_gallery.txt` (names and labels only, no
images). Their line counts are the published ones (30,248 + 2,373 train/val lines over 1,041 ids; 11,659
query and 82,161 gallery lines over 3,060 ids) and 12,699 train / 34,156 gallery names carry the `_ex`
suffix that our loader once rejected (issue 22). MSMT17_V1 and MSMT17_V2 ship the same four lists.

The fixture is the four files concatenated, each after a `# <file name>` line, xz-compressed (~440 kB;
the test suite reads it with the standard library's lzma). Run with the folder holding the four files:

    git clone https://github.com/SamvitJ/MSMT17-Dataset /tmp/msmt17-lists
    python scripts/make_msmt17_fixture.py /tmp/msmt17-lists
"""

import argparse
import lzma
from pathlib import Path

LISTS = {
    "list_train.txt": (30248, 1041),
    "list_val.txt": (2373, 1041),
    "list_query.txt": (11659, 3060),
    "list_gallery.txt": (82161, 3060),
}  # published lines / ids
OUT = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "msmt17_lists.txt.xz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the folder holding MSMT17's four list_*.txt files")
    folder = parser.parse_args().folder
    parts = []
    for name, (lines, ids) in LISTS.items():
        text = (folder / name).read_text()
        rows = [row.split() for row in text.splitlines() if row.strip()]
        if (len(rows), len({row[1] for row in rows})) != (lines, ids):
            raise SystemExit(
                f"{folder / name}: {len(rows)} lines / {len({r[1] for r in rows})} ids, "
                f"not the published {lines} / {ids}; is it MSMT17's own list?"
            )
        parts.append(f"# {name}\n{text if text.endswith(chr(10)) else text + chr(10)}")
    OUT.write_bytes(lzma.compress("".join(parts).encode(), preset=9 | lzma.PRESET_EXTREME))
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
