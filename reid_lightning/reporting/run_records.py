"""The records a run leaves in its folder: `result.json` (status, choices, metrics, error) and
`complexity.json` (parameters and multiply-adds of its model).

train.py writes result.json when a run finishes or fails; a rerun of a sweep reads it to skip finished
jobs, and `reid_lightning.reporting.tables` reads it to build tables. The complexity callback writes
complexity.json at fit start; the run copies it into result.json. Small JSON files keep these in
agreement without parsing TensorBoard event files.

Both are written atomically (a full disk or a kill leaves the previous version, never a 0-byte file). A
record that still cannot be parsed (written by hand, or by an older version) is reported as UNREADABLE,
naming the file, and counts as not finished, so a sweep rerun runs that job again.
"""

import json
import logging
from pathlib import Path

from reid_lightning.atomic import atomic_write_text

log = logging.getLogger(__name__)

RECORD_NAME = "result.json"
COMPLEXITY_NAME = "complexity.json"
FINISHED, FAILED = "finished", "failed"
INTERRUPTED = "interrupted"  # stopped by a signal (SIGTERM, Ctrl-C, a requeue) after checkpointing; rerun resumes
UNREADABLE = "unreadable"  # result.json exists but is not a JSON record (never written by this version)


def write_record(
    run_dir: Path, status: str, choices: dict, metrics: dict | None = None, error: str | None = None, **extra
) -> Path:
    record = {"status": status, "choices": choices, "metrics": metrics or {}, "error": error, **extra}
    return _write_json(Path(run_dir) / RECORD_NAME, record)


def read_record(run_dir: Path) -> dict | None:
    """The run's record, or None when the run never finished nor failed (still running, killed).

    A result.json that is not a JSON record gives status UNREADABLE with the file and the reason as its error.
    """
    path = Path(run_dir) / RECORD_NAME
    try:
        record = _read_json(path)
    except ValueError as err:
        log.warning("%s is not a readable run record (%s); treating the run as not finished", path, err)
        return {"status": UNREADABLE, "choices": {}, "metrics": {}, "error": f"{path} is not readable: {err}"}
    return record


def is_finished(run_dir: Path) -> bool:
    record = read_record(run_dir)
    return record is not None and record.get("status") == FINISHED


def write_complexity(run_dir: Path, complexity: dict) -> Path:
    return _write_json(Path(run_dir) / COMPLEXITY_NAME, complexity)


def read_complexity(run_dir: Path) -> dict:
    """The model's cost as the complexity callback recorded it; {} when it did not run (or is unreadable)."""
    path = Path(run_dir) / COMPLEXITY_NAME
    try:
        return _read_json(path) or {}
    except ValueError as err:
        log.warning("%s is not readable (%s); the run's complexity is left out", path, err)
        return {}


def _write_json(path: Path, content: dict) -> Path:
    return atomic_write_text(path, json.dumps(content, indent=2, default=float) + "\n")


def _read_json(path: Path) -> dict | None:
    """The JSON object in `path`; None when there is no file; ValueError naming the file when it is no object."""
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not valid JSON ({err}); it was cut short or edited") from err
    if not isinstance(content, dict):
        raise ValueError(f"{path} holds a {type(content).__name__}, not a JSON object")
    return content
