"""Your own data as a Market-style folder: one sub-folder per split, identity and camera in the file name.

    <root>/bounding_box_train/  query/  bounding_box_test/     (names changeable with `folders`)

Every image's name must match `pattern`, a Python regex (matched against the whole file name) with a
named group `pid` (an integer; `junk_pid`, default -1, marks images dropped everywhere) and, if the
data has camera labels, a named group `camid` (an integer; camid = number - `first_camera`). The
default pattern reads Market-like names, `0002_c1_anything.jpg`. Files with other extensions than
`extensions` are ignored; an image whose name does not match is an error naming it.

Without a `camid` group the re-ID protocol has no cameras to work with: `missing_camids` decides
(camera_policy.py; `distinct` gives query and gallery distinct cameras, with a warning).

    # conf/data/mine.yaml: defaults: [folder], root: /data/mine, and under options:
    pattern: '(?P<pid>\\d+)_cam(?P<camid>\\d+)_.*'   # e.g. 0042_cam3_frame0001.png

After parsing: train relabelled 0..N-1, query and gallery with their raw pids (a gallery identity that
no query has is a distractor); split sizes are whatever the folders hold (`Splits.summary()`).
"""

import re
from pathlib import Path

from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.datasets.camera_policy import camids_for_unlabelled
from reid_lightning.data.datasets.market_style import NameFormat, load_market_style
from reid_lightning.data.market_layout import MARKET_FOLDERS
from reid_lightning.data.samples import JUNK_PID, Splits

DEFAULT_PATTERN = r"(?P<pid>-1|\d+)_c(?P<camid>\d+).*"
DEFAULT_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def compile_pattern(pattern: str) -> re.Pattern:
    """The user's file-name regex, checked: it compiles and has a `pid` group."""
    try:
        compiled = re.compile(pattern, re.IGNORECASE)
    except re.error as err:
        raise ValueError(
            f"data.options.pattern={pattern!r} is not a valid regex ({err}); e.g. {DEFAULT_PATTERN!r}"
        ) from err
    if "pid" not in compiled.groupindex:
        raise ValueError(
            f"data.options.pattern={pattern!r} has no named group 'pid'; write the identity as "
            f"(?P<pid>...) and the camera as (?P<camid>...), e.g. {DEFAULT_PATTERN!r}"
        )
    return compiled


def check_folders(folders: dict | None) -> dict[str, str]:
    merged = {**MARKET_FOLDERS, **(folders or {})}
    unknown = sorted(set(merged) - set(MARKET_FOLDERS))
    if unknown:
        raise ValueError(f"data.options.folders has keys {', '.join(unknown)}; its keys are train, query, gallery")
    return {split: str(merged[split]) for split in MARKET_FOLDERS}


@DATASETS.register("folder")
def load_folder(
    root: str | Path,
    pattern: str = DEFAULT_PATTERN,
    folders: dict | None = None,
    extensions: list[str] | tuple[str, ...] = DEFAULT_EXTENSIONS,
    first_camera: int = 1,
    num_cameras: int | None = None,
    junk_pid: int | None = JUNK_PID,
    missing_camids: str = "error",
) -> Splits:
    """A Market-style folder of your own under `root` (see the module docstring for every option)."""
    root = Path(root).expanduser()
    folders = check_folders(folders)
    fmt = NameFormat(
        title=f"folder dataset {root}",
        pattern=compile_pattern(pattern),
        example=f"data.options.pattern={pattern!r}",
        num_cameras=num_cameras,
        first_camera=first_camera,
        extensions=tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions),
        junk_pid=junk_pid,
        distractor_pid=None,  # your pid 0 is an ordinary identity; gallery-only ids are distractors anyway
        how_to_fix=f"Point data.root at the folder holding {', '.join(folders.values())}, or name your split "
        "folders with data.options.folders={train: ..., query: ..., gallery: ...}.",
        name_fix="rename it, move it out of the folder, or change data.options.pattern",
        camera_fix="Set data.options.first_camera (the number of your first camera) or data.options.num_cameras",
    )
    if not root.is_dir():
        raise FileNotFoundError(f"folder dataset root {root} does not exist. {fmt.how_to_fix}")
    missing = None if fmt.has_cameras else camids_for_unlabelled(missing_camids, fmt.title)
    return load_market_style(root, fmt, "folder", folders, missing)
