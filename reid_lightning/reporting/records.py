"""The records a run leaves in its folder: `result.json` (status, choices, metrics, error) and
`complexity.json` (parameters and multiply-adds of its model).

train.py writes result.json when a run finishes or fails; a rerun of a sweep reads it to skip finished
jobs, and `reid_lightning.reporting.tables` reads it to build tables. The complexity callback writes
complexity.json at fit start; the run copies it into result.json. Small JSON files keep these in
agreement without parsing TensorBoard event files.
"""

import json
from pathlib import Path

from reid_lightning.metrics.names import RESULT_METRICS  # noqa: F401  (the metrics a record reports)

RECORD_NAME = "result.json"
COMPLEXITY_NAME = "complexity.json"
FINISHED, FAILED = "finished", "failed"


def write_record(run_dir: Path, status: str, choices: dict, metrics: dict | None = None,
                 error: str | None = None, **extra) -> Path:
    record = {"status": status, "choices": choices, "metrics": metrics or {}, "error": error, **extra}
    return _write_json(Path(run_dir) / RECORD_NAME, record)


def read_record(run_dir: Path) -> dict | None:
    """The run's record, or None when the run never finished nor failed (still running, killed)."""
    return _read_json(Path(run_dir) / RECORD_NAME)


def is_finished(run_dir: Path) -> bool:
    record = read_record(run_dir)
    return record is not None and record["status"] == FINISHED


def write_complexity(run_dir: Path, complexity: dict) -> Path:
    return _write_json(Path(run_dir) / COMPLEXITY_NAME, complexity)


def read_complexity(run_dir: Path) -> dict:
    """The model's cost as the complexity callback recorded it; {} when it did not run."""
    return _read_json(Path(run_dir) / COMPLEXITY_NAME) or {}


def _write_json(path: Path, content: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(content, indent=2, default=float) + "\n")
    return path


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    return json.loads(path.read_text())
