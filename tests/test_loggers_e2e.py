"""The loggers users expect from a Lightning + Hydra project, all at once, offline, in one short run.

`logger=many_loggers` (TensorBoard, CSV, wandb offline, MLflow's local SQLite store) on the tiny set with
a small network: each writes its files, each gets the test results, and the composed config is printed
as a tree at the start and saved beside the records. Also: the old key `evaluation.metric` stops a run
with its new name.
"""

import csv
import json
import sqlite3

import pytest

from tests.conftest import run_entry_point

SMALL = [
    "data=synthetic_tiny",
    "trainer.max_epochs=1",
    "backbone=mobilenetv2",
    "partition=global",
    "callbacks.ranked_list=null",
    "callbacks.part_masks=null",
]


@pytest.mark.slow
def test_many_loggers_write_their_files_and_the_config_tree_is_printed(tmp_path):
    paths = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    proc = run_entry_point("train.py", *SMALL, *paths, "logger=many_loggers")
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert json.loads((run_dir / "result.json").read_text())["status"] == "finished"
    rows = list(csv.DictReader(open(run_dir / "csv" / "metrics.csv")))
    assert any(row.get("test/mAP") not in (None, "") for row in rows)  # the test results reached the CSV
    assert (run_dir / "csv" / "hparams.yaml").is_file()
    assert list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))  # offline: a run file, no network
    with sqlite3.connect(tmp_path / "logs" / "mlflow.db") as db:  # MLflow's local store
        keys = {key for (key,) in db.execute("SELECT DISTINCT key FROM metrics")}
    assert "test/mAP" in keys, keys
    tree = (run_dir / "config_tree.log").read_text()
    assert "backbone" in tree and "mobilenetv2" in tree and "partition" in tree
    assert "name: mobilenetv2" in proc.stdout  # printed at the start, too


@pytest.mark.slow
def test_the_renamed_evaluation_key_names_its_new_name(tmp_path):
    paths = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    proc = run_entry_point("train.py", *SMALL, *paths, "evaluation.metric=cosine", check=False)
    assert proc.returncode != 0
    assert "evaluation.metric was renamed evaluation.distance: write evaluation.distance=cosine" in proc.stderr
