"""End to end, as a user runs it: train.py on a tiny synthetic set, then eval.py on its checkpoint.

Checks the files a run leaves (record, checkpoints, TensorBoard curves, hparams row, pictures),
that eval.py reproduces the test metrics from the saved checkpoint, and that bad input fails with
a message naming the problem and the fix.
"""

import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.conftest import run_entry_point

TINY = ["data=synthetic_tiny", "trainer.max_epochs=2", "trainer.check_val_every_n_epoch=1"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    paths = [f"paths.log_dir={base / 'logs'}", f"paths.data_dir={base / 'data'}"]
    # the default measured latency, which run_entry_point skips unless asked: this run checks it is recorded
    proc = run_entry_point("train.py", *TINY, "callbacks.complexity.latency=true", *paths)
    (run_dir,) = (base / "logs" / "train" / "runs").iterdir()
    return run_dir, paths, proc


def tensorboard_events(run_dir: Path) -> EventAccumulator:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    return events


@pytest.mark.slow
def test_training_run_leaves_checkpoints_logs_and_results(trained_run):
    run_dir, _, proc = trained_run
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "finished"
    assert record["choices"]["backbone"] == "osnet" and record["choices"]["partition"] == "gaussian_mask"
    assert set(record["metrics"]) >= {"rank1", "rank5", "rank10", "mAP", "mINP"}
    assert 0.0 <= record["metrics"]["mAP"] <= 1.0
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "complexity.json").is_file() and (run_dir / "ranked_lists.png").is_file()
    complexity = json.loads((run_dir / "complexity.json").read_text())
    assert complexity["ms_per_image_b1_1t"] > 0 and complexity["images_per_s_b32_all"] > 0
    assert complexity["machine"]["cores"] >= 1 and "latency_error" not in complexity
    assert "Rank-1" in proc.stdout  # the final results table
    events = tensorboard_events(run_dir)
    scalars = set(events.Tags()["scalars"])
    assert {"train/loss_epoch", "train/acc", "val/rank1", "val/mAP", "test/rank1", "test/mAP", "test/mINP"} <= scalars
    assert any(tag.startswith("lr-") for tag in scalars)
    assert {"complexity/ms_per_image_b1_1t", "complexity/images_per_s_b32_1t"} <= scalars
    assert "test/ranked_lists" in events.Tags()["images"]
    hparams = events.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in hparams and "_hparams_/experiment" in hparams


@pytest.mark.slow
def test_output_to_a_pipe_has_one_progress_line_per_epoch(trained_run):
    _, _, proc = trained_run  # stdout was a pipe, as in a SLURM log, CI or `| tee`
    lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"], proc.stdout[-3000:]
    for line in lines:
        for field in ("steps ", "loss ", "acc ", " img/s", "elapsed ", "ETA ", "val R1 ", " mAP "):
            assert field in line, line


@pytest.mark.slow
def test_eval_reproduces_test_metrics_from_the_checkpoint(trained_run, tmp_path):
    run_dir, paths, _ = trained_run
    record = json.loads((run_dir / "result.json").read_text())
    ckpt = record["best_checkpoint"] or str(run_dir / "checkpoints" / "last.ckpt")
    run_entry_point("eval.py", "data=synthetic_tiny", f"ckpt_path={ckpt}", *paths)
    (eval_dir,) = (Path(paths[0].split("=", 1)[1]) / "eval" / "runs").iterdir()
    evaluated = json.loads((eval_dir / "result.json").read_text())["metrics"]
    for key in ("rank1", "rank5", "rank10", "mAP", "mINP"):
        assert evaluated[key] == pytest.approx(record["metrics"][key], abs=1e-6)


@pytest.mark.slow
def test_resuming_with_a_checkpoint_of_another_model_is_refused(trained_run):
    run_dir, paths, _ = trained_run
    proc = run_entry_point(
        "train.py", *TINY, *paths, "partition=stripes", f"ckpt_path={run_dir}/checkpoints/last.ckpt", check=False
    )
    assert proc.returncode != 0
    assert "was trained with another model config" in proc.stderr and "partition" in proc.stderr


@pytest.mark.slow
def test_the_checkpoint_serves_the_deploy_tools(trained_run, tmp_path):
    """train.py's checkpoint carries its preprocessing; reid-embed and reid-export take it as it is."""
    import numpy as np

    from reid_lightning.deploy.cli import embed_main, export_main
    from reid_lightning.deploy.extractor import FeatureExtractor
    from reid_lightning.deploy.preprocessing import Preprocessing

    run_dir, paths, _ = trained_run
    ckpt, data = run_dir / "checkpoints" / "last.ckpt", Path(paths[1].split("=", 1)[1]) / "synthetic_tiny"
    assert FeatureExtractor(ckpt, device="cpu").preprocessing == Preprocessing(128, 64)  # stored by train.py
    embed_main(
        [
            str(ckpt),
            str(data / "query"),
            "-o",
            str(tmp_path / "query.npz"),
            "--part-maps",
            str(data / "part_maps" / "query"),
        ]
    )  # the default head masks body parts
    saved = np.load(tmp_path / "query.npz")
    assert saved["features"].shape == (len(list((data / "query").glob("*.jpg"))), 7 * 512)
    export_main([str(ckpt), "-o", str(tmp_path / "model"), "--format", "torchscript"])
    assert (tmp_path / "model.torchscript").is_file()


def test_missing_dataset_folder_names_the_path_and_the_fix(tmp_path):
    proc = run_entry_point(
        "train.py", "data=market1501", f"data.root={tmp_path}/nowhere", f"paths.log_dir={tmp_path}/logs", check=False
    )
    assert proc.returncode != 0
    assert f"{tmp_path}/nowhere" in proc.stderr and "data.root" in proc.stderr


def test_market_without_root_says_how_to_set_it(tmp_path, monkeypatch):
    monkeypatch.delenv("MARKET1501_ROOT", raising=False)
    proc = run_entry_point("train.py", "data=market1501", f"paths.log_dir={tmp_path}/logs", check=False)
    assert proc.returncode != 0 and "MARKET1501_ROOT" in proc.stderr


def test_unknown_backbone_lists_the_known_ones(tmp_path):
    proc = run_entry_point(
        "train.py",
        "data=synthetic_tiny",
        "backbone.name=no_such_net",
        f"paths.log_dir={tmp_path}/logs",
        f"paths.data_dir={tmp_path}/data",
        check=False,
    )
    assert proc.returncode != 0
    assert "no_such_net" in proc.stderr and "osnet" in proc.stderr and "nasnet" in proc.stderr
