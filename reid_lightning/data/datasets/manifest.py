"""Your own data as a CSV/TSV manifest: one row per image, any folder layout.

    path,pid,camid,split
    cam1/alice_001.jpg,1,0,train
    /abs/path/bob_017.jpg,2,1,query
    ...

A header row names the columns, in any order: `path` (relative to the manifest's folder, or absolute),
`pid` (an integer identity; -1 marks junk, dropped everywhere), `split` (train, query or gallery) and
optionally `camid` (an integer camera). Other columns are ignored. The delimiter is a tab for `.tsv`
files, else detected among `,` `;` tab (or set `delimiter`). data.root is the manifest file, or a
folder holding `manifest` (default manifest.csv).

Without camera labels (no camid column, or all cells empty) `missing_camids` decides (camera_policy.py;
`distinct` gives query and gallery distinct cameras, with a warning); a column filled only in some rows
is an error. Images are not stat-ed one by one; `verify_files: true` checks them with one listing per
folder. After parsing: train relabelled 0..N-1 (in sorted pid order), query and gallery with raw pids,
rows in manifest order; the sizes are your rows (`Splits.summary()`).
"""

import csv
from pathlib import Path

from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.datasets.camera_policy import camids_for_unlabelled
from reid_lightning.data.datasets.file_check import require_files
from reid_lightning.data.samples import JUNK_PID, Sample, Splits, relabel

REQUIRED_COLUMNS = ("path", "pid", "split")
SPLITS = ("train", "query", "gallery")
DEFAULT_MANIFEST = "manifest.csv"
HOW_TO_FIX = (
    "Set data.root to your manifest (a CSV/TSV with a header path,pid,camid,split) or to the folder "
    "holding it (data.options.manifest names the file)."
)


def find_manifest(root: str | Path, manifest: str) -> Path:
    root = Path(root).expanduser()
    path = root / manifest if root.is_dir() else root
    if not path.is_file():
        raise FileNotFoundError(f"manifest {path} does not exist. {HOW_TO_FIX}")
    return path


def sniff_delimiter(path: Path, first_line: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",;\t").delimiter
    except csv.Error:
        return ","


def _int(value: str, column: str, where: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError(
            f"{where}: {column} {value!r} is not an integer; write {column}s as integers "
            "(number your identities and cameras)"
        ) from None


def read_rows(path: Path, delimiter: str | None) -> tuple[list[dict], list[str]]:
    """(rows as dicts with their line number under '_line', the header) of a manifest."""
    with open(path, newline="") as f:
        first_line = f.readline()
        f.seek(0)
        reader = csv.DictReader(f, delimiter=delimiter or sniff_delimiter(path, first_line))
        header = [name.strip() for name in reader.fieldnames or []]
        reader.fieldnames = header
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise ValueError(
                f"manifest {path} has the columns {header}, not {', '.join(missing)}; its first row "
                "must name the columns path,pid,split (and optionally camid)"
            )
        rows = []
        for row in reader:
            if any((v or "").strip() for k, v in row.items() if k is not None):
                row["_line"] = reader.line_num
                rows.append(row)
    return rows, header


@DATASETS.register("csv")
def load_csv(
    root: str | Path,
    manifest: str = DEFAULT_MANIFEST,
    delimiter: str | None = None,
    missing_camids: str = "error",
    verify_files: bool = False,
) -> Splits:
    """Your own data listed in a manifest under `root` (see the module docstring for every option)."""
    path = find_manifest(root, manifest)
    rows, header = read_rows(path, delimiter)
    if not rows:
        raise ValueError(
            f"manifest {path} has a header ({', '.join(header)}) but no rows; add one row per image "
            "(path,pid,camid,split)"
        )
    has_camids = "camid" in header and any((row["camid"] or "").strip() for row in rows)
    default_camids = None if has_camids else camids_for_unlabelled(missing_camids, f"manifest {path}")
    by_split: dict[str, list[Sample]] = {split: [] for split in SPLITS}
    for row in rows:
        where = f"manifest {path} line {row['_line']}"
        split = (row["split"] or "").strip().lower()
        if split not in by_split:
            raise ValueError(f"{where}: split {row['split']!r} is unknown; use one of {', '.join(SPLITS)}")
        pid = _int((row["pid"] or "").strip(), "pid", where)
        if has_camids:
            camid_text = (row["camid"] or "").strip()
            if not camid_text:
                raise ValueError(
                    f"{where} has no camid while other rows have one; fill in every camid or "
                    "none (then see data.options.missing_camids)"
                )
            camid = _int(camid_text, "camid", where)
        else:
            camid = default_camids[SPLITS.index(split)]
        image = Path((row["path"] or "").strip()).expanduser()
        if not image.name:
            raise ValueError(f"{where} has an empty path; give every row an image path")
        if pid != JUNK_PID:
            by_split[split].append(Sample(image if image.is_absolute() else path.parent / image, pid, camid, "csv"))
    if verify_files:
        require_files(
            (s.path for samples in by_split.values() for s in samples),
            f"manifest {path}",
            "Fix the paths (relative to the manifest's folder, or absolute).",
        )
    train, num_train_pids = relabel(by_split["train"])
    return Splits(
        path.parent,
        train,
        by_split["query"],
        by_split["gallery"],
        num_train_pids,
        folder={split: "." for split in SPLITS},
        name="csv",
    )
