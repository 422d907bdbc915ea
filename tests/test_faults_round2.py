"""Faults, round two (issue 23), fast: each case on the smallest thing that shows it.

The composed config is checked up front (types against the YAML defaults, unknown keys with the closest
match, ranges: a run that trains nothing is refused); a checkpoint at another input size or without its
training state is refused naming both sizes / the fix; a run folder has one writer (a second process is
refused); CSV part maps live beside the manifest; a header-only CSV, a file both query and gallery, a
part-map folder that does not exist and an output folder that cannot be written are named at once; eval.py
refuses checkpoint hyper-parameters it does not know and names missing weights. End to end (signals, a
refused rerun, a full disk): test_faults_round2_e2e.py. Decode cache and image cases: test_decode_cache.py,
test_images.py.
"""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import open_dict
from PIL import Image

from reid_lightning.run.config_check import ConfigError, check_config
from tests.conftest import ROOT, data_config


def composed(*overrides: str, config: str = "train"):
    from reid_lightning.run.resolvers import register

    register()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config, overrides=list(overrides), return_hydra_config=True)
    choices = dict(cfg.hydra.runtime.choices)
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg, choices


def problems_of(*overrides: str, config: str = "train") -> str:
    cfg, choices = composed(*overrides, config=config)
    with pytest.raises(ConfigError) as err:
        check_config(cfg, choices, primary=config)
    return str(err.value)


# ---------------------------------------------------------------- the config, checked up front
@pytest.mark.parametrize(
    "override, named",
    [
        ("data.batch_size=0", "data.batch_size=0: must be an integer >= 1"),
        ("data.batch_size=-4", "data.batch_size=-4: must be an integer >= 1"),
        ("data.num_workers=-1", "data.num_workers=-1: must be an integer >= 0"),
        ("data.height=0", "data.height=0: must be an integer >= 1"),
        ("+data.batchsize=16", "data.batchsize=16: data has no setting 'batchsize'; did you mean data.batch_size?"),
        ("backbone.channels_last=maybe", "backbone.channels_last='maybe': must be true or false (the default is True)"),
        ("trainer.max_epochs=0", "trainer.max_epochs=0: must be at least 1"),
        ("+trainer.max_steps=0", "trainer.max_steps=0: must be at least 1, or -1"),
        ("+trainer.max_epoch=3", "did you mean trainer.max_epochs?"),
        ("test=maybe", "test='maybe': must be true or false"),
        ("data.sampler=pk", "data.sampler='pk': must be random or identity"),
    ],
)
def test_a_bad_value_is_named_with_the_key_and_the_fix(override, named):
    assert named in problems_of("data=synthetic_tiny", override)


def test_every_problem_is_listed_at_once():
    message = problems_of("data.batch_size=0", "data.num_workers=-1", "trainer.max_epochs=0")
    assert message.startswith("the config has 3 problem(s); nothing was run")


@pytest.mark.parametrize(
    "overrides",
    [
        [],
        ["data=synthetic_tiny", "backbone=mobilenetv2", "partition=global"],
        ["experiment=thesis_ch4"],
        ["experiment=thesis_ch3"],
        ["trainer=ddp"],
        ["data=csv"],
        ["debug=fast_dev_run"],
        ["hparams_search=optuna"],
        ["head=predicted_mask_shared_visibility"],
        ["neck_dim=paper"],
        ["trainer.max_epochs=-1", "+trainer.max_steps=5"],
    ],
)
def test_the_shipped_presets_pass_the_check(overrides):
    cfg, choices = composed(*overrides)
    check_config(cfg, choices, primary="train")


def test_eval_configs_are_checked_too():
    cfg, choices = composed("ckpt_path=x.ckpt", config="eval")
    check_config(cfg, choices, primary="eval")
    assert "data.eval_batch_size=0" in problems_of("ckpt_path=x.ckpt", "data.eval_batch_size=0", config="eval")


# ---------------------------------------------------------------- checkpoints that cannot continue this run
def save_checkpoint(path: Path, **changes) -> Path:
    hparams = {
        "backbone": {"name": "mobilenetv2"},
        "partition": {"name": "global"},
        "classifier": {"name": "shared"},
        "neck_dim": 0,
        "num_classes": 12,
        "num_part_labels": 7,
        "image_size": (128, 64),
    }
    torch.save({"hyper_parameters": hparams, "state_dict": {}, "loops": {}, "optimizer_states": [], **changes}, path)
    return path


def test_resuming_at_another_input_size_is_refused_naming_both_sizes(tmp_path):
    from reid_lightning.models.checkpoint_file import CheckpointMismatch, check_checkpoint_matches

    path = save_checkpoint(tmp_path / "last.ckpt")
    check_checkpoint_matches(path, {"image_size": (128, 64), "backbone": {"name": "mobilenetv2"}})
    with pytest.raises(
        CheckpointMismatch,
        match=r"trained at input size 128x64, this run asks for 256x128 .*"
        r"Rerun with data.height=128 data.width=64",
    ):
        check_checkpoint_matches(path, {"image_size": (256, 128)})


def test_a_checkpoint_without_training_state_is_not_resumed(tmp_path):
    from reid_lightning.models.checkpoint_file import CheckpointMismatch, check_checkpoint_matches

    path = tmp_path / "weights.ckpt"
    save_checkpoint(path)
    checkpoint = torch.load(path, weights_only=False)
    del checkpoint["loops"], checkpoint["optimizer_states"]
    torch.save(checkpoint, path)
    with pytest.raises(CheckpointMismatch, match=r"no training state .*restart the epoch count"):
        check_checkpoint_matches(path, {"image_size": (128, 64)})


# ---------------------------------------------------------------- one writer per run folder
HOLDER = """
import sys, time
from reid_lightning.run.run_folder import hold_run_folder
with hold_run_folder(sys.argv[1]):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_second_process_cannot_write_a_run_folder_in_use(tmp_path):
    from reid_lightning.run.run_folder import RunFolderBusy, hold_run_folder

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(RunFolderBusy, match=rf"run folder {tmp_path} is in use by process {holder.pid} on"):
            with hold_run_folder(tmp_path):
                pass
    finally:
        holder.kill()
        holder.wait()
    deadline = time.monotonic() + 10
    while True:  # the lock died with its process
        try:
            with hold_run_folder(tmp_path):
                break
        except RunFolderBusy:
            assert time.monotonic() < deadline
            time.sleep(0.1)


# ---------------------------------------------------------------- own data
def test_csv_part_maps_are_beside_the_manifest_when_data_root_is_the_file(tmp_path):
    from reid_lightning.data.datasets import DatasetSpec

    (tmp_path / "m.csv").write_text("path,pid,camid,split\na.jpg,1,0,train\n")
    assert DatasetSpec("csv", "csv", str(tmp_path / "m.csv")).part_root == tmp_path / "part_maps"
    assert DatasetSpec("csv", "csv", str(tmp_path)).part_root == tmp_path / "part_maps"


def test_a_header_only_csv_is_named_as_empty_not_blamed_on_cameras(tmp_path):
    from reid_lightning.data.datasets.manifest import load_csv

    (tmp_path / "m.csv").write_text("path,pid,camid,split\n")
    with pytest.raises(ValueError, match=r"m\.csv has a header \(path, pid, camid, split\) but no rows"):
        load_csv(tmp_path / "m.csv")


def test_the_same_file_in_query_and_gallery_is_named(tmp_path):
    from reid_lightning.data.datasets.manifest import load_csv
    from reid_lightning.data.verify import check_data

    (tmp_path / "m.csv").write_text(
        "path,pid,camid,split\na.jpg,1,0,train\nq.jpg,2,0,query\nq.jpg,2,1,gallery\ng.jpg,2,1,gallery\n"
    )
    splits = load_csv(tmp_path / "m.csv")
    with pytest.raises(ValueError, match=r"1 image\(s\) are both query and gallery images \(e.g. .*q\.jpg\)"):
        check_data([(splits, ("query", "gallery"), None)], 7, verify=False)


def test_reid_data_check_refuses_a_part_map_folder_that_does_not_exist(tmp_path, capsys):
    from reid_lightning.data.verify import main

    for split in ("bounding_box_train", "part_maps/bounding_box_train"):
        (tmp_path / split).mkdir(parents=True)
    Image.fromarray(np.zeros((8, 4, 3), np.uint8)).save(tmp_path / "bounding_box_train" / "0001_c1s1_0.jpg")
    Image.fromarray(np.zeros((8, 4), np.uint8)).save(tmp_path / "part_maps" / "bounding_box_train" / "0001_c1s1_0.png")
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(tmp_path), "--part-maps", "/nonexistent", "--no-progress"])
    assert exit_.value.code == 2 and "--part-maps /nonexistent is not a folder" in capsys.readouterr().err
    other = tmp_path / "other_maps"
    (other / "bounding_box_train").mkdir(parents=True)
    Image.fromarray(np.zeros((8, 4), np.uint8)).save(other / "bounding_box_train" / "0001_c1s1_0.png")
    assert main(["check", str(tmp_path), "--part-maps", str(other), "--no-progress"]) == 0
    assert "checked 1 images and 1 part maps" in capsys.readouterr().out  # the default folder's maps are no images


def test_reid_export_to_a_folder_it_cannot_write_fails_at_once_naming_it(tmp_path, capsys):
    from reid_lightning.deploy.cli import export_main

    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(tmp_path)]).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        with pytest.raises(SystemExit) as exit_:  # the checkpoint does not exist: the folder is checked first
            export_main([str(tmp_path / "missing.ckpt"), "-o", str(tmp_path / "model")])
        assert f"cannot write to {tmp_path}: Read-only file system" in str(exit_.value.code)
    finally:
        subprocess.run(["umount", "-l", str(tmp_path)])


# ---------------------------------------------------------------- eval.py: what a checkpoint holds is all used
@pytest.fixture(scope="module")
def small_checkpoint() -> dict:
    from reid_lightning.models.module import ReIDModule

    hparams = {
        "backbone": {"name": "mobilenetv2", "pretrained": False},
        "partition": {"name": "global"},
        "classifier": {"name": "shared"},
        "optimizer": {"name": "adam", "lr": 1e-3},
        "scheduler": {"name": "none"},
        "num_classes": 4,
        "image_size": (64, 32),
    }
    model = ReIDModule(**hparams)
    return {"hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}


def test_a_checkpoint_with_hyper_parameters_this_version_does_not_know_is_refused(small_checkpoint):
    from reid_lightning.deploy.trained_model import model_from_checkpoint

    model_from_checkpoint(small_checkpoint, "run/last.ckpt")
    newer = {**small_checkpoint, "hyper_parameters": {**small_checkpoint["hyper_parameters"], "stem_stride": 1}}
    with pytest.raises(
        ValueError,
        match=r"run/last\.ckpt holds hyper-parameters this version does not know "
        r"\(stem_stride\)",
    ):
        model_from_checkpoint(newer, "run/last.ckpt")


def test_a_checkpoint_missing_a_weight_is_named_not_dumped(small_checkpoint):
    from reid_lightning.deploy.trained_model import model_from_checkpoint

    state = dict(small_checkpoint["state_dict"])
    removed = next(iter(state))
    del state[removed]
    with pytest.raises(ValueError, match=rf"1 weight\(s\) missing, e.g. \['{removed}'\]"):
        model_from_checkpoint({**small_checkpoint, "state_dict": state}, "run/last.ckpt")


def test_a_csv_run_finds_its_part_maps_beside_the_manifest(tmp_path):
    from reid_lightning.data.datamodule import ReIDDataModule

    rows = ["path,pid,camid,split"]
    (tmp_path / "cams").mkdir()
    (tmp_path / "part_maps" / "cams").mkdir(parents=True)
    for i, (split, pid, cam) in enumerate([("train", 1, 0), ("train", 1, 1), ("query", 2, 0), ("gallery", 2, 1)]):
        Image.fromarray(np.zeros((16, 8, 3), np.uint8)).save(tmp_path / "cams" / f"{i}.jpg")
        Image.fromarray(np.zeros((16, 8), np.uint8)).save(tmp_path / "part_maps" / "cams" / f"{i}.png")
        rows.append(f"cams/{i}.jpg,{pid},{cam},{split}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n")
    data = ReIDDataModule(
        data_config(
            name="csv", root=str(tmp_path / "m.csv"), height=16, width=8, num_workers=0, val_split=None, cache=False
        ),
        load_part_maps=True,
    )
    data.setup("fit")  # checks every part map up front: found under <manifest folder>/part_maps
    batch = next(iter(data.test_dataloader()))
    assert batch["part_map"].shape == (2, 16, 8)
