"""Faults, round two (issue 23), end to end: train.py / eval.py as a user runs them, on copies of the tiny set.

A refused rerun of a finished run (another model, another input size) leaves result.json and
.hydra/ byte for byte; a fresh folder refused is recorded as failed; a run folder held by a second process is
refused untouched; eval.py stopped by SIGTERM while testing records `interrupted` and exits 143; a decode
cache that does not fit its disk fails the run with `No space left on device` and leaves nothing behind.
"""

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.test_faults_e2e import ENV, FAST, copy_of, record, run, tiny_set  # noqa: F401 (tiny_set: a fixture)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def finished_run(tiny_set, tmp_path_factory):  # noqa: F811
    """One finished 1-epoch run: (its folder, its overrides)."""
    base = tmp_path_factory.mktemp("finished")
    run_dir = base / "run"
    overrides = [
        *FAST,
        f"data.root={copy_of(tiny_set, base)}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=1",
        f"data.cache_dir={base / 'cache'}",
    ]
    proc = run("train.py", *overrides)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return run_dir, overrides


def snapshot(run_dir: Path) -> dict:
    return {p.name: p.read_bytes() for p in [run_dir / "result.json", *sorted((run_dir / ".hydra").iterdir())]}


@pytest.mark.parametrize(
    "change, named",
    [
        (["backbone=osnet"], "was trained with another model config"),
        (["data.height=256", "data.width=128"], "trained at input size 128x64, this run asks for 256x128"),
    ],
)
def test_a_refused_rerun_leaves_the_record_and_the_hydra_files_as_they_were(finished_run, change, named):
    run_dir, overrides = finished_run
    before = snapshot(run_dir)
    assert set(before) == {"result.json", "config.yaml", "hydra.yaml", "overrides.yaml"}
    proc = run("train.py", *overrides, *change)
    assert proc.returncode != 0 and named in proc.stderr
    assert snapshot(run_dir) == before and record(run_dir)["status"] == "finished"


def test_a_run_that_would_train_nothing_is_failed_before_training(tiny_set, tmp_path):  # noqa: F811
    run_dir = tmp_path / "run"
    proc = run("train.py", *FAST, f"data.root={tiny_set}", f"hydra.run.dir={run_dir}", "+trainer.max_steps=0")
    assert proc.returncode != 0 and record(run_dir)["status"] == "failed"
    assert "trainer.max_steps=0: must be at least 1" in record(run_dir)["error"]
    assert (run_dir / ".hydra" / "overrides.yaml").is_file() and not (run_dir / "checkpoints").exists()


HOLDER = """
import sys, time
from reid_lightning.run.run_folder import hold_run_folder
with hold_run_folder(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(120)
"""


def test_a_run_folder_held_by_another_process_is_refused_untouched(finished_run):
    run_dir, overrides = finished_run
    before = snapshot(run_dir)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_dir)], cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        proc = run("train.py", *overrides)
    finally:
        holder.kill()
        holder.wait()
    assert proc.returncode != 0 and f"is in use by process {holder.pid}" in proc.stderr
    assert snapshot(run_dir) == before


def test_sigterm_while_eval_tests_records_interrupted_and_exits_143(finished_run, tiny_set, tmp_path):  # noqa: F811
    run_dir, _ = finished_run
    eval_dir, cache = tmp_path / "eval", tmp_path / "cache"
    log = tmp_path / "eval.log"
    with open(log, "w") as out:  # batches of 1: the test loop lasts seconds
        proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "eval.py"),
                "data=synthetic_tiny",
                f"data.root={tiny_set}",
                f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
                f"hydra.run.dir={eval_dir}",
                "data.eval_batch_size=1",
                f"data.cache_dir={cache}",
            ],
            cwd=ROOT,
            env=ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 300
    while not list(cache.glob("*/meta.json")):  # query + gallery decoded: testing starts
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.02)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode == 143, log.read_text()[-3000:]
    assert record(eval_dir)["status"] == "interrupted" and "SIGTERM" in record(eval_dir)["error"]


def test_a_decode_cache_that_does_not_fit_fails_the_run_and_leaves_nothing(tiny_set, tmp_path, small_disk):  # noqa: F811
    run_dir = tmp_path / "run"
    proc = run(
        "train.py",
        *FAST,
        f"data.root={tiny_set}",
        f"hydra.run.dir={run_dir}",
        f"data.cache_dir={small_disk}",
        "data.height=256",
        "data.width=128",
    )
    assert proc.returncode != 0 and record(run_dir)["status"] == "failed"
    assert f"cannot write {small_disk}: No space left on device" in record(run_dir)["error"]
    assert [p.name for p in small_disk.iterdir() if not p.name.startswith(".")] == []
