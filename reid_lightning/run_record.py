"""The record a run leaves in its folder (`result.json`): status, choices, metrics, error.

train.py writes it when a run finishes or fails; a rerun of a sweep reads it to skip finished jobs,
and `reid_lightning.results` reads it to build tables. One small JSON file keeps those three in
agreement without parsing TensorBoard event files.
"""

import json
from pathlib import Path

RECORD_NAME = "result.json"
RESULT_METRICS = ("rank1", "rank5", "rank10", "mAP", "mINP")  # the test metrics a run reports and tables list
FINISHED, FAILED = "finished", "failed"


def write_record(run_dir: Path, status: str, choices: dict, metrics: dict | None = None,
                 error: str | None = None, **extra) -> Path:
    path = Path(run_dir) / RECORD_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"status": status, "choices": choices, "metrics": metrics or {}, "error": error, **extra}
    path.write_text(json.dumps(record, indent=2, default=float))
    return path


def read_record(run_dir: Path) -> dict | None:
    """The run's record, or None when the run never finished nor failed (still running, killed)."""
    path = Path(run_dir) / RECORD_NAME
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def is_finished(run_dir: Path) -> bool:
    record = read_record(run_dir)
    return record is not None and record["status"] == FINISHED
