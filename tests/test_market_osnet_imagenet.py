"""experiment=market_osnet_imagenet composes into Torchreid's published OSNet recipe
(configs/im_osnet_x1_0_softmax_256x128_amsgrad_cosine.yaml), and its weights variable is required and used."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from reid_lightning.models.backbones import create_backbone
from reid_lightning.run.build import model_config
from reid_lightning.run.resolvers import register
from tests.test_torchreid_weights import assert_torchreids_output, torchreid_state

CONF = Path(__file__).resolve().parents[1] / "conf"


def preset(*overrides: str):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=["experiment=market_osnet_imagenet", *overrides])


def test_preset_carries_torchreids_recipe():
    composed = preset()
    cfg = {key: OmegaConf.to_container(composed[key], resolve=True)  # trainer paths need a Hydra run
           for key in ("data", "backbone", "partition", "classifier", "loss", "optimizer", "scheduler",
                       "evaluation")}
    cfg["trainer"] = {key: composed.trainer[key] for key in ("max_epochs", "accelerator")}
    assert cfg["data"]["name"] == "market1501"
    assert cfg["backbone"] | {"neck_dim": None} == {  # ImageNet-pretrained osnet_x1_0 with its 512-d fc
        "name": "osnet", "pretrained": "$OSNET_IMAGENET_WEIGHTS", "width": 1.0, "last_stride": None,
        "channels_last": True, "neck_dim": None}
    assert composed.neck_dim == 512
    assert cfg["partition"]["name"] == "global"
    assert cfg["classifier"] == {"name": "shared", "bnneck": False, "logits": "linear", "scale": 64.0, "margin": 0.35}
    data = cfg["data"]
    assert (data["height"], data["width"], data["batch_size"], data["sampler"]) == (256, 128, 64, "random")
    assert data["augment"] == {"flip": True, "pad": 0, "random_erasing": 0.0}  # random_flip only
    assert cfg["loss"] == {"label_smoothing": 0.1, "triplet_weight": 0.0, "triplet_margin": 0.3,
                           "metric_feature": "before", "terms": {}}
    assert cfg["optimizer"] == {"name": "adam", "lr": 0.0015, "weight_decay": 5e-4, "betas": [0.9, 0.999],
                                "amsgrad": True}
    assert cfg["scheduler"] == {"name": "warmup_cosine", "warmup_epochs": 0, "max_epochs": 250, "min_lr": 0.0,
                                "warmup_factor": 0.01, "delay_epochs": 0}
    assert cfg["trainer"]["max_epochs"] == 250 and cfg["trainer"]["accelerator"] == "gpu"
    assert cfg["evaluation"] | {"memory_budget_bytes": 0} == {
        "metric": None, "distance": "euclidean", "normalize": False, "flip": False, "rerank": False, "rerank_k1": 20,
        "rerank_k2": 6, "rerank_lambda": 0.3, "memory_budget_bytes": 0, "visibility": False,
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
    with pytest.raises(ValueError, match=r"backbone.pretrained=\$OSNET_IMAGENET_WEIGHTS names the environment "
                                         r"variable OSNET_IMAGENET_WEIGHTS, which is not set: export "
                                         r"OSNET_IMAGENET_WEIGHTS=/path/to/weights.pth, or pass backbone.pretrained="):
        create_backbone(**model_config(preset())["backbone"])


def test_preset_loads_a_torchreid_imagenet_file(tmp_path, monkeypatch):
    torch.save(torchreid_state("osnet_x1_0"), tmp_path / "osnet_x1_0_imagenet.pth")
    monkeypatch.setenv("OSNET_IMAGENET_WEIGHTS", str(tmp_path / "osnet_x1_0_imagenet.pth"))
    backbone = create_backbone(**model_config(preset())["backbone"]).eval()
    assert_torchreids_output(backbone, "osnet_x1_0")
