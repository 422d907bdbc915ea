"""A real Hydra multirun: two jobs that finish and one that diverges (NaN loss).

Checks the job folders' names, each job's TensorBoard hparams row and test curves, that the failed
job is recorded and does not stop the sweep, that a rerun skips finished jobs, that the results
command tabulates the sweep, and that the comparison notebook runs on it.
"""

import json
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reid_lightning.reporting.tables import collect
from tests.conftest import ROOT, run_entry_point

LRS = "optimizer.lr=0.01,0.02,1e30"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    base = tmp_path_factory.mktemp("sweep")
    args = [
        "-m",
        "data=synthetic_tiny",
        "trainer.max_epochs=1",
        "partition=global",
        LRS,
        f"paths.log_dir={base / 'logs'}",
        f"paths.data_dir={base / 'data'}",
        f"hydra.sweep.dir={base / 'sweep'}",
        "callbacks.part_masks=null",
    ]
    first = run_entry_point("train.py", *args)
    return base / "sweep", args, first


@pytest.mark.slow
def test_jobs_are_named_by_their_choices_and_failures_do_not_stop_the_sweep(sweep):
    sweep_dir, _, first = sweep
    names = sorted(p.name for p in sweep_dir.iterdir() if p.is_dir())
    assert names == ["0_optimizer.lr=0.01", "1_optimizer.lr=0.02", "2_optimizer.lr=1e+30"]
    assert "failed (FloatingPointError" in first.stderr + first.stdout
    for job in names[:2]:
        events = EventAccumulator(str(sweep_dir / job / "tensorboard"))
        events.Reload()
        assert "_hparams_/session_start_info" in events.PluginTagToContent("hparams")
        assert {"test/rank1", "test/mAP"} <= set(events.Tags()["scalars"])


@pytest.mark.slow
def test_rerun_skips_finished_jobs(sweep):
    _, args, _ = sweep
    again = run_entry_point("train.py", *args)
    log = again.stdout + again.stderr
    assert log.count("already holds a finished result") == 2  # jobs 0 and 1; the failed job 2 runs again


@pytest.mark.slow
def test_results_command_tables_both_runs_and_reports_the_failure(sweep):
    sweep_dir, _, _ = sweep
    proc = subprocess.run(
        [sys.executable, "-m", "reid_lightning.reporting", str(sweep_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    lines = proc.stdout.splitlines()
    rows = [line for line in lines if line.startswith("| 0.0")]
    assert len(rows) == 2 and all(cell.strip() != "-" for cell in rows[0].split("|")[1:-1])
    assert any(line.startswith("- failed: 2_optimizer.lr=1e+30: FloatingPointError") for line in lines)
    assert (sweep_dir / "results.csv").is_file() and (sweep_dir / "map_vs_macs.png").is_file()
    results = collect(sweep_dir)
    assert len(results.finished) == 2 and len(results.failed) == 1 and results.missing == []


@pytest.mark.slow
def test_comparison_notebook_runs_on_the_sweep(sweep, monkeypatch):
    sweep_dir, _, _ = sweep
    monkeypatch.setenv("REID_SWEEP_DIR", str(sweep_dir))
    notebook = nbformat.read(ROOT / "notebooks" / "compare_runs.ipynb", as_version=4)
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "notebooks")}}
    ).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert any("image/png" in o.get("data", {}) for o in outputs)


def test_committed_notebook_has_no_outputs():
    notebook = nbformat.read(ROOT / "notebooks" / "compare_runs.ipynb", as_version=4)
    assert all(
        not cell.get("outputs") and not cell.get("execution_count")
        for cell in notebook.cells
        if cell.cell_type == "code"
    )


@pytest.mark.slow
def test_optuna_search_stores_its_study_and_a_rerun_resumes_it(tmp_path):
    """hparams_search=optuna: trials maximise val/mAP, the study is in SQLite, a rerun adds trials to it."""
    import optuna

    args = [
        "hparams_search=optuna",
        "data=synthetic_tiny",
        "trainer.max_epochs=1",
        "trainer.check_val_every_n_epoch=1",
        "partition=global",
        "callbacks.part_masks=null",
        "callbacks.ranked_list=null",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.data_dir={tmp_path / 'data'}",
    ]
    run_entry_point("train.py", *args, "hydra.sweeper.n_trials=2")
    storage = f"sqlite:///{tmp_path / 'logs' / 'optuna' / 'studies.db'}"
    study = optuna.load_study(study_name="lr_wd_ls", storage=storage)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    assert all(0.0 <= t.value <= 1.0 for t in study.trials)  # the validation mAP each trial returned
    assert all(1e-4 <= t.params["optimizer.lr"] <= 1e-2 for t in study.trials)

    run_entry_point("train.py", *args, "hydra.sweeper.n_trials=1")  # the same command again resumes the study
    study = optuna.load_study(study_name="lr_wd_ls", storage=storage)
    assert len(study.trials) == 3 and study.best_value == max(t.value for t in study.trials)
    invocations = sorted((tmp_path / "logs" / "optuna" / "lr_wd_ls").iterdir())
    assert [sorted(p.name for p in d.iterdir() if p.is_dir()) for d in invocations] == [["0", "1"], ["0"]]
    resumed = json.loads((invocations[1] / "0" / "result.json").read_text())  # trained afresh, not resumed
    assert resumed["status"] == "finished"
    assert resumed["metrics"]["best_val/mAP"] == pytest.approx(study.trials[2].value)  # what Optuna was told


@pytest.mark.slow
def test_a_plain_multirun_finds_its_folders_from_the_launch_directory(tmp_path):
    """`train.py -m a=x,y` with no path overrides: the sweep folder resolves before any job exists."""
    run_entry_point(
        "train.py", "-m", "debug=fast_dev_run", "data=synthetic_tiny", "partition=global,stripes", cwd=tmp_path
    )
    (sweep_dir,) = (tmp_path / "logs" / "debug" / "multiruns").iterdir()  # logs/ of the launch directory
    assert sorted(p.name for p in sweep_dir.iterdir() if p.is_dir()) == ["0_partition=global", "1_partition=stripes"]
    assert (tmp_path / "data" / "synthetic_tiny" / "bounding_box_train").is_dir()
