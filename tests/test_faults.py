"""Faults, fast: each fault a probe of the suite found, on the smallest thing that shows it (end to end:
test_faults_e2e.py).

last.ckpt is the newest epoch; a diverging loss or an empty training loader fails the run; empty splits and bad
files are named before training; a second job cannot regenerate a synthetic set in use; records and checkpoints
are written atomically (a full disk keeps the old file), resume skips unreadable checkpoints, unreadable
records count as unfinished; eval.py records the checkpoint's model.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from reid_lightning.reporting.run_records import FINISHED, is_finished, read_record, write_record
from reid_lightning.run.build import build_callbacks
from tests.conftest import ROOT

QUIET = {
    "logger": False,
    "enable_progress_bar": False,
    "enable_model_summary": False,
    "accelerator": "cpu",
    "num_sanity_val_steps": 0,
}
NO_PICTURES = [
    "callbacks.part_masks=null",
    "callbacks.ranked_list=null",
    "callbacks.complexity=null",
    "callbacks.progress_bar=null",
    "callbacks.model_summary=null",
    "callbacks.lr_monitor=null",
]


def train_config(tmp_path: Path, *overrides: str):
    from reid_lightning.run.resolvers import register

    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("train", overrides=[f"paths.output_dir={tmp_path}", *NO_PICTURES, *overrides])


class Tiny(pl.LightningModule):
    """A linear model whose training loss and validation mAP follow given schedules."""

    def __init__(self, loss_at=None, val_map=0.5):
        super().__init__()
        self.layer = nn.Linear(4, 1)
        self.loss_at, self.val_map = loss_at, val_map

    def training_step(self, batch, batch_idx):
        loss = self.layer(batch[0]).pow(2).mean()
        if self.loss_at is not None:
            loss = loss * 0 + self.loss_at(self.global_step)  # the scheduled value, still a graph
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/mAP", float(self.val_map))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.01)


def loader(n=8, batch_size=4, drop_last=True):
    return DataLoader(TensorDataset(torch.randn(n, 4)), batch_size=batch_size, drop_last=drop_last)


def fit(callbacks, model, max_epochs=3, train=None, **trainer):
    checkpoints = any(isinstance(c, pl.callbacks.ModelCheckpoint) for c in callbacks)
    t = pl.Trainer(max_epochs=max_epochs, callbacks=callbacks, enable_checkpointing=checkpoints, **{**QUIET, **trainer})
    t.fit(model, loader() if train is None else train, loader(4, 4, False))
    return t


# ---------------------------------------------------------------- 1. last.ckpt is the last epoch
def test_last_checkpoint_holds_the_last_epoch_whatever_validation_and_the_best_did(tmp_path):
    checkpoints = [
        c
        for c in build_callbacks(train_config(tmp_path), validates=True)
        if isinstance(c, pl.callbacks.ModelCheckpoint)
    ]  # the run's checkpoint policies, as configured
    fit(checkpoints, Tiny(), max_epochs=3, check_val_every_n_epoch=2)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=False)
    assert last["epoch"] == 2 and last["global_step"] == 6  # 3 epochs x 2 steps: not the best epoch (1)
    best = sorted(p.name for p in (tmp_path / "checkpoints").glob("epoch_*.ckpt"))
    assert best == ["epoch_001.ckpt"]  # the best-model policy is unchanged: validated epochs only


# ---------------------------------------------------------------- 3. divergence
def test_divergence_guard_fails_on_a_loss_above_the_cap_or_a_multiple_of_the_first_epoch():
    from reid_lightning.callbacks.guards import DivergenceGuard, TrainingDiverged

    with pytest.raises(TrainingDiverged, match=r"step 3.*1e\+06 is above max_loss=1000.*optimizer.lr"):
        fit([DivergenceGuard(max_loss=1e3)], Tiny(loss_at=lambda step: 2.0 if step < 2 else 1e6))
    guard = DivergenceGuard(max_loss=1e3, max_ratio=10)  # first epoch (2 steps) averages 2.0: 21 is > 10 x that
    with pytest.raises(TrainingDiverged, match=r"21 is above max_ratio=10 x the first epoch's mean loss 2"):
        fit([guard], Tiny(loss_at=lambda step: 2.0 if step < 4 else 21.0))
    assert guard.state_dict() == {"reference": 2.0}  # kept in checkpoints for a resumed run
    fit([DivergenceGuard()], Tiny(loss_at=lambda step: 6.0 / (step + 1)))  # a normal decreasing loss passes


# ---------------------------------------------------------------- 4. no training step
def test_a_training_loader_without_a_batch_fails_naming_the_numbers_and_the_fix():
    from reid_lightning.callbacks.guards import TrainingStepsGuard

    with pytest.raises(
        ValueError,
        match=r"0 steps: the training loader has 10 images.*data.batch_size=16.*"
        r"at most 10",
    ):
        fit([TrainingStepsGuard()], Tiny(), train=loader(10, 16))
    fit([TrainingStepsGuard()], Tiny(), max_epochs=1, train=loader(10, 8))  # one batch is enough


# ---------------------------------------------------------------- 5. empty splits
def test_empty_split_folders_are_named_before_anything_runs(tmp_path):
    from reid_lightning.data.samples import Sample, Splits
    from reid_lightning.data.verify import require_samples

    sample = Sample(tmp_path / "query" / "0001_c1s1_000001_00.jpg", 1, 0)
    splits = Splits(tmp_path, [sample], [sample], [], 1, name="market1501")
    require_samples(splits, ["train", "query"])
    with pytest.raises(ValueError, match=f"gallery folder {tmp_path / 'bounding_box_test'} holds no usable images"):
        require_samples(splits, ["train", "query", "gallery"])
    with pytest.raises(ValueError, match=f"train folder {tmp_path / 'bounding_box_train'} holds no usable"):
        require_samples(Splits(tmp_path, [], [sample], [sample], 0), ["train"])


# ---------------------------------------------------------------- 6. a set in use is never regenerated
def test_a_job_with_other_synthetic_knobs_cannot_regenerate_a_set_in_use(tmp_path):
    from reid_lightning.data.datasets import load_dataset

    root = tmp_path / "syn"
    knobs = {
        "num_train_ids": 2,
        "num_test_ids": 2,
        "num_distractors": 0,
        "num_junk": 0,
        "train_images_per_camera": [1, 1],
        "gallery_images_per_camera": [1, 1],
        "cameras_per_id": [2, 2],
    }
    first = load_dataset("synthetic", root, **knobs)
    files = sorted(p.name for p in (root / "bounding_box_train").iterdir())
    with pytest.raises(FileExistsError, match=f"data.root={root} holds a complete synthetic set") as refused:
        load_dataset("synthetic", root, **{**knobs, "num_train_ids": 3})
    assert "num_train_ids: the set has 2, this run asks 3" in str(refused.value)
    assert f"data.root={root}_2" in str(refused.value) and f"delete {root}" in str(refused.value)
    assert sorted(p.name for p in (root / "bounding_box_train").iterdir()) == files  # untouched
    assert len(load_dataset("synthetic", root, **knobs).train) == len(first.train)  # same knobs: reused


# ---------------------------------------------------------------- 7. atomic writes, readable resumes, records
def run_limited(code: str, file_size_limit: int) -> subprocess.CompletedProcess:
    """Run `code` in a fresh Python whose files cannot grow beyond `file_size_limit` bytes: a full disk."""
    preamble = (
        "import resource, signal\nsignal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({file_size_limit}, {file_size_limit}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-c", preamble + code], cwd=ROOT, env=env, text=True, capture_output=True, timeout=120
    )


@pytest.mark.slow  # a fresh Python importing torch: ~5-15 s on a busy machine
def test_a_full_disk_keeps_the_previous_result_json(tmp_path):
    write_record(tmp_path, FINISHED, {"backbone": "osnet"}, metrics={"mAP": 0.5})
    before = (tmp_path / "result.json").read_text()
    proc = run_limited(
        "from reid_lightning.reporting.run_records import write_record\n"
        f"write_record({str(tmp_path)!r}, 'failed', {{}}, error='x' * 5000)\n",
        1000,
    )
    assert (tmp_path / "result.json").read_text() == before  # the old record, complete
    assert proc.returncode != 0 and "File too large" in proc.stderr and "result.json" in proc.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # no temporary file left behind


def test_unreadable_result_json_counts_as_unfinished_and_is_named_in_the_tables(tmp_path, caplog):
    from reid_lightning.reporting.tables import collect, problems_report

    job = tmp_path / "sweep" / "0_backbone=osnet"
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text("- backbone=osnet\n")
    (job / "result.json").write_text("")  # what a full disk left before writes were atomic
    assert not is_finished(job)
    assert str(job / "result.json") in caplog.text
    assert read_record(job)["status"] == "unreadable"
    report = problems_report(collect(tmp_path / "sweep"))
    assert "unreadable" in report and str(job / "result.json") in report


def test_resume_skips_a_truncated_checkpoint_for_the_newest_readable_one(tmp_path, caplog):
    from reid_lightning.run.train import resume_checkpoint

    folder = tmp_path / "checkpoints"
    folder.mkdir()
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "epoch": 1}, folder / "epoch_001.ckpt")
    torch.save({"state_dict": {"w": torch.zeros(1000)}, "epoch": 2}, folder / "last.ckpt")
    data = (folder / "last.ckpt").read_bytes()
    (folder / "last.ckpt").write_bytes(data[: len(data) // 2])  # cut short by a full disk
    os.utime(folder / "epoch_001.ckpt", (1, 1))  # older than last.ckpt
    cfg = OmegaConf.create({"ckpt_path": None, "resume": "auto"})
    assert resume_checkpoint(cfg, tmp_path) == str(folder / "epoch_001.ckpt")
    assert f"Skipping unreadable checkpoint {folder / 'last.ckpt'}" in caplog.text


def test_a_checkpoint_that_does_not_fit_keeps_the_previous_one(tmp_path, small_disk):
    from reid_lightning.run.build import build_trainer

    trainer = build_trainer(train_config(tmp_path, "~logger"), None)
    path = small_disk / "last.ckpt"
    trainer.strategy.checkpoint_io.save_checkpoint({"state_dict": {"w": torch.ones(50_000)}, "epoch": 1}, path)
    with pytest.raises(OSError):  # 2 MB into a 1 MiB disk
        trainer.strategy.checkpoint_io.save_checkpoint({"state_dict": {"w": torch.ones(500_000)}, "epoch": 2}, path)
    assert torch.load(path, weights_only=False)["epoch"] == 1  # the previous checkpoint, readable
    assert [p.name for p in small_disk.iterdir()] == ["last.ckpt"]


# ---------------------------------------------------------------- 8. eval.py records what ran
def test_eval_records_the_checkpoints_model_not_the_command_lines(caplog):
    from reid_lightning.run.evaluate import evaluated_choices

    model_cfg = {
        "backbone": {"name": "osnet"},
        "partition": {"name": "gaussian_mask"},
        "classifier": {"name": "shared"},
    }
    asked = {"data": "synthetic_tiny", "backbone": "mobilenetv2", "evaluation": "default"}
    choices = evaluated_choices(asked, model_cfg, "run/last.ckpt")
    assert choices == {
        "data": "synthetic_tiny",
        "evaluation": "default",
        "backbone": "osnet",
        "partition": "gaussian_mask",
        "classifier": "shared",
    }
    assert "backbone=mobilenetv2" in caplog.text and "backbone=osnet" in caplog.text


# ---------------------------------------------------------------- 9. bad content found before training
def bad_tree(root: Path) -> dict[str, Path]:
    """A Market-layout folder with one good image+map and one of each kind of bad file."""
    folder, maps = root / "bounding_box_test", root / "part_maps" / "bounding_box_test"
    folder.mkdir(parents=True)
    maps.mkdir(parents=True)
    image = Image.fromarray(np.full((128, 64, 3), 120, np.uint8))
    label_map = np.zeros((128, 64), np.uint8)
    files = {}
    for name in ("good", "truncated", "empty", "rgb_map", "small_map", "label_9", "no_map"):
        path = folder / f"0001_c1s1_{len(files):06d}_00.jpg"
        image.save(path, quality=90)
        if name != "no_map":
            Image.fromarray(label_map).save(maps / f"{path.stem}.png")
        files[name] = path
    data = files["truncated"].read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 2])
    files["empty"].write_bytes(b"")
    map_of = {name: maps / f"{path.stem}.png" for name, path in files.items()}
    Image.fromarray(np.zeros((128, 64, 3), np.uint8)).save(map_of["rgb_map"])
    Image.fromarray(np.zeros((64, 32), np.uint8)).save(map_of["small_map"])
    Image.fromarray(np.full((128, 64), 9, np.uint8)).save(map_of["label_9"])
    return {
        **{k: v for k, v in files.items() if k in ("truncated", "empty")},
        **{k: map_of[k] for k in ("rgb_map", "small_map", "label_9", "no_map")},
    }


def test_check_lists_every_bad_image_and_part_map_at_once(tmp_path, capsys):
    from reid_lightning.data.verify import main

    bad = bad_tree(tmp_path)
    assert main(["check", str(tmp_path), "--no-progress"]) == 1
    out = capsys.readouterr().out
    assert "checked 7 images and 7 part maps" in out and "6 bad file(s)" in out
    lines = {line.strip().split(":")[0]: line for line in out.splitlines() if line.startswith("  ")}
    assert set(lines) == {str(p) for p in bad.values()}
    assert "truncated" in lines[str(bad["truncated"])].lower() and "0 bytes" in lines[str(bad["empty"])]
    assert "RGB" in lines[str(bad["rgb_map"])] and "(64, 32)" in lines[str(bad["small_map"])]
    assert "label 9" in lines[str(bad["label_9"])] and "does not exist" in lines[str(bad["no_map"])]
    assert main(["check", str(tmp_path), "--no-progress", "--no-part-maps"]) == 1  # the images alone
    assert "2 bad file(s)" in capsys.readouterr().out


# ---------------------------------------------------------------- 2. SIGTERM (in Lightning's loops: test_faults_e2e)
def test_sigterm_before_lightning_runs_is_an_interruption_too():
    import signal

    from pytorch_lightning.utilities.exceptions import SIGTERMException

    from reid_lightning.run.faults import record_interruption, sigterm_interrupts

    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SIGTERMException), sigterm_interrupts():
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(100):  # the handler runs between two bytecodes of the main thread
            sum(range(1000))
    assert signal.getsignal(signal.SIGTERM) is before
    assert record_interruption(Path("unused"), {}, SIGTERMException(), False, write=False).code == 143
