"""experiment=market_osnet_imagenet composes into Torchreid's published OSNet recipe
(configs/im_osnet_x1_0_softmax_256x128_amsgrad_cosine.yaml), and its weights variable is required and used;
experiment=osnet_torchreid is the same recipe without the Market/GPU run settings, and `head_init: torchreid`
draws the fc and classifier as Torchreid's init_params does."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from reid_lightning.models.backbones import create_backbone
from reid_lightning.models.head_init import TORCHREID_LINEAR_STD
from reid_lightning.models.module import ReIDModule
from reid_lightning.run.build import model_config
from reid_lightning.run.resolvers import register
from tests.test_torchreid_weights import assert_torchreids_output, torchreid_state

CONF = Path(__file__).resolve().parents[1] / "conf"


def preset(*overrides: str, experiment: str = "market_osnet_imagenet"):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[f"experiment={experiment}", *overrides])


RECIPE_KEYS = ("partition", "classifier", "loss", "optimizer", "evaluation", "neck_dim", "head_init")


def test_preset_carries_torchreids_recipe():
    composed = preset()
    cfg = {
        key: OmegaConf.to_container(composed[key], resolve=True)  # trainer paths need a Hydra run
        for key in ("data", "backbone", "partition", "classifier", "loss", "optimizer", "scheduler", "evaluation")
    }
    cfg["trainer"] = {key: composed.trainer[key] for key in ("max_epochs", "accelerator")}
    assert cfg["data"]["name"] == "market1501"
    assert cfg["backbone"] | {"neck_dim": None} == {  # ImageNet-pretrained osnet_x1_0 with its 512-d fc
        "name": "osnet",
        "pretrained": "$OSNET_IMAGENET_WEIGHTS",
        "width": 1.0,
        "last_stride": None,
        "channels_last": True,
        "neck_dim": None,
    }
    assert composed.neck_dim == 512
    assert cfg["partition"]["name"] == "global"
    assert cfg["classifier"] == {"name": "shared", "bnneck": False, "logits": "linear", "scale": 64.0, "margin": 0.35}
    data = cfg["data"]
    assert (data["height"], data["width"], data["batch_size"], data["sampler"]) == (256, 128, 64, "random")
    assert data["augment"] == {"flip": True, "pad": 0, "random_erasing": 0.0}  # random_flip only
    assert cfg["loss"] == {
        "label_smoothing": 0.1,
        "triplet_weight": 0.0,
        "triplet_margin": 0.3,
        "metric_feature": "before",
        "terms": {},
    }
    assert cfg["optimizer"] == {
        "name": "adam",
        "lr": 0.0015,
        "weight_decay": 5e-4,
        "betas": [0.9, 0.999],
        "amsgrad": True,
    }
    assert cfg["scheduler"] == {
        "name": "warmup_cosine",
        "warmup_epochs": 0,
        "max_epochs": 250,
        "min_lr": 0.0,
        "warmup_factor": 0.01,
        "delay_epochs": 0,
    }
    assert cfg["trainer"]["max_epochs"] == 250 and cfg["trainer"]["accelerator"] == "gpu"
    assert cfg["evaluation"] | {"memory_budget_bytes": 0} == {
        "metric": None,
        "distance": "euclidean",
        "normalize": False,
        "flip": False,
        "rerank": False,
        "rerank_k1": 20,
        "rerank_k2": 6,
        "rerank_lambda": 0.3,
        "memory_budget_bytes": 0,
        "visibility": False,
        "visibility_threshold": 0.5,
    }
    freeze = instantiate(composed.callbacks.freeze_backbone)
    assert freeze.epochs == 10  # fixbase_epoch


def test_default_run_freezes_nothing():
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train")
    assert instantiate(cfg.callbacks.freeze_backbone).epochs == 0


def test_unset_weights_variable_is_named(monkeypatch):
    monkeypatch.delenv("OSNET_IMAGENET_WEIGHTS", raising=False)
    with pytest.raises(
        ValueError,
        match=r"backbone.pretrained=\$OSNET_IMAGENET_WEIGHTS names the environment "
        r"variable OSNET_IMAGENET_WEIGHTS, which is not set: export "
        r"OSNET_IMAGENET_WEIGHTS=/path/to/weights.pth, or pass backbone.pretrained=",
    ):
        create_backbone(**model_config(preset())["backbone"])


def test_preset_loads_a_torchreid_imagenet_file(tmp_path, monkeypatch):
    torch.save(torchreid_state("osnet_x1_0"), tmp_path / "osnet_x1_0_imagenet.pth")
    monkeypatch.setenv("OSNET_IMAGENET_WEIGHTS", str(tmp_path / "osnet_x1_0_imagenet.pth"))
    backbone = create_backbone(**model_config(preset())["backbone"]).eval()
    assert_torchreids_output(backbone, "osnet_x1_0")


def test_recipe_runs_on_any_data_and_device():
    """osnet_torchreid carries the recipe of market_osnet_imagenet and leaves size, batch, epochs, device and
    weights to the data and run; market_osnet_imagenet = the recipe + Torchreid's Market run settings."""
    recipe, market = preset("data=synthetic_tiny", experiment="osnet_torchreid"), preset()

    def plain(value):
        return OmegaConf.to_container(value) if OmegaConf.is_config(value) else value

    for key in RECIPE_KEYS:
        assert plain(recipe[key]) == plain(market[key]), key
    assert recipe.head_init == "torchreid" and recipe.neck_dim == 512
    assert recipe.backbone.pretrained is False and recipe.backbone.width == 1.0
    assert recipe.data.name == "synthetic" and (recipe.data.height, recipe.data.width) == (128, 64)
    assert recipe.data.batch_size == 16 and recipe.data.augment == market.data.augment
    assert recipe.trainer.accelerator == "cpu" and recipe.trainer.max_epochs == 10
    assert recipe.scheduler.warmup_epochs == 0 and recipe.scheduler.name == "warmup_cosine"
    assert instantiate(recipe.callbacks.freeze_backbone).epochs == 0  # freezing goes with the ImageNet weights
    assert recipe.task_name == "train"


def test_torchreid_head_init_draws_fc_and_classifier_from_n_0_001():
    torch.manual_seed(0)
    common = dict(
        backbone={"name": "osnet", "width": 0.25},
        partition={"name": "global"},
        classifier={"name": "shared"},
        optimizer={"name": "adam", "lr": 1e-3},
        scheduler={"name": "none"},
        num_classes=751,
        image_size=(64, 32),
        neck_dim=512,
    )
    model = ReIDModule(**common, head_init="torchreid")
    for layer in (model.head.neck.fc, model.classifier.fc):
        weight = layer.weight.detach()
        assert abs(float(weight.std()) - TORCHREID_LINEAR_STD) < 0.0005
        assert abs(float(weight.mean())) < 0.0005 and not layer.bias.any()
    assert float(model.head.neck.bn.weight.min()) == 1.0 and not model.head.neck.bn.bias.any()
    default = ReIDModule(**common)  # head_init: pytorch, PyTorch's uniform(+-1/sqrt(fan_in)): std 0.0255 at 512 in
    assert float(default.classifier.fc.weight.detach().std()) > 2 * TORCHREID_LINEAR_STD
    assert default.classifier.fc.bias.any()
    with pytest.raises(ValueError, match=r"head_init='torchrid' is unknown; choose one of pytorch, torchreid"):
        ReIDModule(**common, head_init="torchrid")
