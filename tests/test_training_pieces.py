"""Small pieces of the training loop: schedules, the triplet loss, run records and checkpoint checks."""

import pytest
import torch

from reid_lightning.models.checkpoint_file import check_checkpoint_matches
from reid_lightning.models.optimization import build_optimizer, build_scheduler
from reid_lightning.models.triplet import batch_hard_triplet_loss
from reid_lightning.reporting.run_records import FAILED, FINISHED, is_finished, read_record, write_record


def test_step_and_warmup_cosine_schedules():
    param = torch.nn.Parameter(torch.zeros(1))
    opt = build_optimizer([param], "sgd", lr=0.1)
    step = build_scheduler(opt, "step", step_size=2, gamma=0.1)["scheduler"]
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        step.step()
    assert lrs == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    opt = build_optimizer([param], "sgd", lr=1.0)
    cosine = build_scheduler(opt, "warmup_cosine", warmup_epochs=2, max_epochs=6)["scheduler"]
    lrs = []
    for _ in range(6):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        cosine.step()
    assert lrs[0] == pytest.approx(0.01) and lrs[2] == pytest.approx(1.0) and lrs[-1] < 0.2


def test_unknown_optimizer_and_scheduler_names_are_rejected():
    with pytest.raises(ValueError, match="optimizer.name='rmsprop'"):
        build_optimizer([torch.nn.Parameter(torch.zeros(1))], "rmsprop")
    with pytest.raises(ValueError, match="scheduler.name='poly'"):
        build_scheduler(None, "poly")


def test_batch_hard_triplet_on_hand_made_points():
    # 1-D points: id 0 at 0 and 1, id 1 at 3 and 7
    emb = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # anchor: hardest positive, hardest negative -> hinge
    # 0: pos 1, neg 3 -> 0;  1: pos 1, neg 2 -> 0;  3: pos 4, neg 2 -> 2.3;  7: pos 4, neg 6 -> 0
    assert batch_hard_triplet_loss(emb, labels, margin=0.3).item() == pytest.approx(2.3 / 4)
    assert batch_hard_triplet_loss(emb, torch.arange(4)).item() == 0.0  # no positive pair


def test_run_record_round_trip(tmp_path):
    assert read_record(tmp_path) is None and not is_finished(tmp_path)
    write_record(tmp_path, FAILED, {"backbone": "osnet"}, error="ValueError: boom")
    assert read_record(tmp_path)["error"] == "ValueError: boom" and not is_finished(tmp_path)
    write_record(tmp_path, FINISHED, {"backbone": "osnet"}, metrics={"rank1": 0.5})
    assert is_finished(tmp_path) and read_record(tmp_path)["metrics"]["rank1"] == 0.5


def test_checkpoint_of_another_model_is_refused_with_the_differences(tmp_path):
    path = tmp_path / "x.ckpt"
    hparams = {
        "backbone": {"name": "nasnet", "pretrained": False},
        "partition": {"name": "global"},
        "classifier": {"name": "shared"},
        "neck_dim": None,
        "num_classes": 10,
        "num_part_labels": 7,
    }
    torch.save({"hyper_parameters": hparams, "state_dict": {}, "loops": {}, "optimizer_states": []}, path)
    same_but_pretrained = {**hparams, "backbone": {"name": "nasnet", "pretrained": True}}
    check_checkpoint_matches(path, same_but_pretrained)  # the weights source does not change the model
    other = {**hparams, "backbone": {"name": "osnet", "pretrained": False}, "num_classes": 11}
    with pytest.raises(ValueError, match="another model config") as err:
        check_checkpoint_matches(path, other)
    assert "backbone" in str(err.value) and "num_classes" in str(err.value) and "partition" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_checkpoint_matches(tmp_path / "missing.ckpt", hparams)


@pytest.mark.parametrize(
    "overrides, neck_dim",
    [
        ([], 0),
        (["experiment=thesis_ch4"], 512),
        (["experiment=thesis_ch4", "backbone=nasnet"], None),
        (["neck_dim=256"], 256),
    ],
)
def test_neck_width_comes_from_the_top_level_or_the_backbone_preset(overrides, neck_dim):
    """The default recipe has no neck; thesis_ch4 gives OSNet its paper's 512-d fc; never a backbone option."""
    from pathlib import Path

    from hydra import compose, initialize_config_dir

    from reid_lightning.run.build import model_config
    from reid_lightning.run.resolvers import register

    register()
    conf = Path(__file__).resolve().parents[1] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    model = model_config(cfg)
    assert model["neck_dim"] == neck_dim and "neck_dim" not in model["backbone"]
