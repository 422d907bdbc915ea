"""Faults, end to end: train.py / eval.py as a user runs them, on copies of the tiny synthetic set.

kill -9 mid-training and rerun -> resumes from the last epoch; SIGTERM -> checkpoint, record "interrupted",
exit 143; Adam lr=1e6 -> failed; a batch larger than the training set -> failed before training; empty
query / train folder -> failed naming the folder; bad files -> all listed before training (data.verify=true);
eval.py with another backbone on the command line -> the record names the checkpoint's backbone.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from tests.conftest import ROOT

pytestmark = pytest.mark.slow
# The quickest run that still has everything: MobileNetV2 with global pooling, no pictures.
FAST = [
    "data=synthetic_tiny",
    "backbone=mobilenetv2",
    "partition=global",
    "callbacks.part_masks=null",
    "callbacks.ranked_list=null",
]


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory) -> Path:
    """synthetic_tiny generated once; every test trains on its own copy (data.root=...)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from reid_lightning.data.datasets import load_dataset

    root = tmp_path_factory.mktemp("data") / "synthetic_tiny"
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=synthetic_tiny", f"data.root={root}"])
    load_dataset("synthetic", root, **OmegaConf.to_container(cfg.data.options))
    return root


def copy_of(tiny_set: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_set, tmp_path / "data" / tiny_set.name))


def record(run_dir: Path) -> dict:
    return json.loads((run_dir / "result.json").read_text())


# One thread: these small runs gain nothing from two, and lose much on a busy machine (OpenMP threads spin).
ENV = {**os.environ, "HYDRA_FULL_ERROR": "1", "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def run(script: str, *overrides: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / script), *overrides], cwd=ROOT, env=ENV, text=True, capture_output=True, timeout=600
    )


def start(log: Path, *overrides: str) -> subprocess.Popen:
    """train.py in the background, its output in `log` (a pipe nobody reads would fill up and block it)."""
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, str(ROOT / "train.py"), *overrides],
            cwd=ROOT,
            env=ENV,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def wait_for(condition, proc: subprocess.Popen, timeout: float = 300) -> bool:
    """True once `condition()` holds while `proc` runs; False when `proc` ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    proc.kill()
    raise AssertionError(f"nothing happened within {timeout} s")


def readable(path: Path) -> bool:
    try:
        torch.load(path, map_location="cpu", weights_only=False)
        return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def killed_and_rerun(tiny_set, tmp_path_factory):
    """Train 3 epochs; kill -9 as soon as a last.ckpt exists; rerun the same command (resume=auto)."""
    base = tmp_path_factory.mktemp("kill9")
    run_dir = base / "run"
    overrides = [
        *FAST,
        f"data.root={copy_of(tiny_set, base)}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=3",
        "test=false",
    ]
    last = run_dir / "checkpoints" / "last.ckpt"
    proc = start(base / "killed.log", *overrides)
    wait_for(lambda: last.is_file() and readable(last), proc)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait(timeout=60)
    killed_at = torch.load(last, weights_only=False)["epoch"] if readable(last) else None
    rerun = run("train.py", *overrides)
    return run_dir, killed_at, rerun


def test_kill_9_mid_training_resumes_from_the_last_epoch_checkpoint(killed_and_rerun):
    run_dir, killed_at, rerun = killed_and_rerun
    assert killed_at is not None and killed_at < 2  # last.ckpt existed before the last epoch (none before: 5)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"Resuming from {run_dir / 'checkpoints' / 'last.ckpt'}" in rerun.stdout + rerun.stderr
    assert record(run_dir)["status"] == "finished" and record(run_dir)["epochs"] == 3


def test_sigterm_checkpoints_records_interrupted_and_exits_non_zero(tiny_set, tmp_path):
    run_dir = tmp_path / "run"
    log = tmp_path / "train.log"
    proc = start(
        log,
        *FAST,
        f"data.root={copy_of(tiny_set, tmp_path)}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=3",
        "test=false",
    )
    last = run_dir / "checkpoints" / "last.ckpt"
    assert wait_for(lambda: last.is_file() and readable(last), proc)  # epoch 0 is done: now in epoch 1
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    assert proc.returncode == 143, log.read_text()[-3000:]
    assert record(run_dir)["status"] == "interrupted" and "SIGTERM" in record(run_dir)["error"]
    from reid_lightning.run.resume import newest_readable_checkpoint

    interrupted = run_dir / "checkpoints" / "interrupted.ckpt"
    assert readable(interrupted) and newest_readable_checkpoint(run_dir) == interrupted  # what a rerun resumes
    assert (
        torch.load(interrupted, weights_only=False)["global_step"]
        >= torch.load(last, weights_only=False)["global_step"]
    )  # the steps of the interrupted epoch are kept
    assert record(run_dir)["resume_from"] == str(interrupted)


def test_a_diverging_run_is_recorded_as_failed(tiny_set, tmp_path):
    run_dir = tmp_path / "run"
    proc = run(
        "train.py",
        *FAST,
        f"data.root={copy_of(tiny_set, tmp_path)}",
        f"hydra.run.dir={run_dir}",
        "optimizer.lr=1e6",
        "trainer.max_epochs=2",
    )
    assert proc.returncode != 0
    assert record(run_dir)["status"] == "failed"
    assert "diverged" in record(run_dir)["error"] or "training loss is" in record(run_dir)["error"]


def test_a_batch_larger_than_the_training_set_fails_before_training(tiny_set, tmp_path):
    run_dir = tmp_path / "run"
    proc = run(
        "train.py",
        *FAST,
        f"data.root={copy_of(tiny_set, tmp_path)}",
        f"hydra.run.dir={run_dir}",
        "data.batch_size=512",
        "trainer.max_epochs=1",
    )
    assert proc.returncode != 0 and record(run_dir)["status"] == "failed"
    assert "0 steps" in proc.stderr and "data.batch_size=512" in proc.stderr
    assert not (run_dir / "checkpoints").exists()  # nothing trained, nothing saved


@pytest.mark.parametrize("split", ["query", "bounding_box_train"])
def test_an_empty_split_folder_fails_naming_it(tiny_set, tmp_path, split):
    root = copy_of(tiny_set, tmp_path)
    for image in (root / split).glob("*.jpg"):
        image.unlink()
    run_dir = tmp_path / "run"
    proc = run("train.py", *FAST, f"data.root={root}", f"hydra.run.dir={run_dir}", "trainer.max_epochs=1")
    assert proc.returncode != 0 and record(run_dir)["status"] == "failed"
    assert f"folder {root / split} holds no usable images" in proc.stderr


def test_bad_files_are_all_listed_before_training(tiny_set, tmp_path):
    from PIL import Image

    root = copy_of(tiny_set, tmp_path)
    image = sorted((root / "bounding_box_test").glob("*.jpg"))[5]
    image.write_bytes(image.read_bytes()[:300])  # truncated gallery image
    part_map = sorted((root / "part_maps" / "query").glob("*.png"))[0]
    Image.open(part_map).convert("RGB").save(part_map)  # a colour rendering instead of labels
    run_dir = tmp_path / "run"
    proc = run(
        "train.py",
        *FAST,
        "partition=gaussian_mask",
        "++data.verify=true",
        f"data.root={root}",
        f"hydra.run.dir={run_dir}",
        "trainer.max_epochs=1",
    )
    assert proc.returncode != 0 and "2 bad file(s)" in proc.stderr
    assert str(image) in proc.stderr and str(part_map) in proc.stderr
    assert not (run_dir / "checkpoints").exists()  # found before training


def test_eval_records_the_checkpoints_backbone_not_the_command_lines(killed_and_rerun, tiny_set, tmp_path):
    run_dir, _, _ = killed_and_rerun
    eval_dir = tmp_path / "eval"
    proc = run(
        "eval.py",
        "data=synthetic_tiny",
        f"data.root={copy_of(tiny_set, tmp_path)}",
        f"ckpt_path={run_dir / 'checkpoints' / 'last.ckpt'}",
        "+backbone=osnet",
        f"hydra.run.dir={eval_dir}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert record(eval_dir)["choices"]["backbone"] == "mobilenetv2"  # what ran, from the checkpoint
    assert "backbone=osnet" in proc.stdout + proc.stderr  # the warning about the ignored choice


def test_sigterm_stops_a_local_sweep_loudly(tiny_set, tmp_path):
    sweep = tmp_path / "sweep"
    log = tmp_path / "sweep.log"
    args = [
        "-m",
        *FAST,
        f"data.root={copy_of(tiny_set, tmp_path)}",
        f"hydra.sweep.dir={sweep}",
        "trainer.max_epochs=2",
        "test=false",
        "seed=0,1",
    ]
    proc = start(log, *args)
    first = sweep / "0_seed=0"
    assert wait_for(lambda: readable(first / "checkpoints" / "last.ckpt"), proc)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    out = log.read_text()
    assert proc.returncode == 143, out[-3000:]
    assert record(first)["status"] == "interrupted" and "jobs after this one did not run" in out
    assert not (sweep / "1_seed=1").exists()  # the sweep stopped there
