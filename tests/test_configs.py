"""Every config file of every group composes, resolves, and names components and options that exist.

One parametrised case per file in conf/ (experiments, heads, sweeps, debug presets, ...), so a broken
preset fails here in seconds instead of in a user's sweep: it must compose into the train (or eval)
config, every interpolation must resolve, and the backbone, partition, classifier, dataset, optimizer
and scheduler it ends up with must be registered names whose options the builders accept.
"""

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf, open_dict

from reid_lightning.data.datasets import DATASETS
from reid_lightning.models.backbones import BACKBONES
from reid_lightning.models.classifier import CLASSIFIERS
from reid_lightning.models.optimization import OPTIMIZERS, SCHEDULERS
from reid_lightning.models.partitions import PARTITIONS
from reid_lightning.run.resolvers import register

CONF = Path(__file__).resolve().parents[1] / "conf"
NOT_OPTIONS = ("local", "hydra")  # machine-local files; Hydra's own settings (its launcher is listed below)


def group_options() -> list[str]:
    """`group=option` for every YAML file of every config group (sweeps through the conf/sweep link)."""
    overrides = []
    for path in sorted(CONF.glob("*/**/*.yaml")):
        group = path.parent.relative_to(CONF).as_posix()
        if group.split("/")[0] in NOT_OPTIONS:
            continue
        overrides.append(f"{group}={path.stem}")
    overrides += [f"hydra/launcher={p.stem}" for p in sorted((CONF / "hydra" / "launcher").glob("*.yaml"))]
    return overrides


@pytest.fixture(scope="module", autouse=True)
def hydra_conf():
    """One Hydra initialisation for the module (its plugin discovery is the slow part)."""
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield
    HydraConfig.instance().cfg = None  # later tests must not see the last composed run as theirs


def compose_resolved(config_name: str, overrides: list[str]):
    cfg = compose(config_name, overrides=overrides, return_hydra_config=True)
    with open_dict(cfg):
        cfg.hydra.runtime.output_dir = "/tmp/compose_check"
        cfg.hydra.job.num = 0
    HydraConfig.instance().set_config(cfg)
    resolved = OmegaConf.to_container(cfg, resolve=True)  # raises on any interpolation that does not resolve
    resolved.pop("hydra")
    return OmegaConf.create(resolved)


def check_components(cfg) -> None:
    backbone = {k: v for k, v in cfg.backbone.items() if k not in ("name", "pretrained", "channels_last")}
    if cfg.backbone.name in BACKBONES:
        BACKBONES.check_options(cfg.backbone.name, backbone)
    partition = {k: v for k, v in cfg.partition.items() if k != "name"}
    PARTITIONS.check_options(cfg.partition.name, partition)
    CLASSIFIERS.check_options(cfg.classifier.name, [k for k in cfg.classifier if k != "name"])
    OPTIMIZERS.check_options(cfg.optimizer.name, [k for k in cfg.optimizer if k != "name"])
    SCHEDULERS.check_options(cfg.scheduler.name, [k for k in cfg.scheduler if k != "name"])
    assert cfg.data.name in DATASETS, f"data.name={cfg.data.name} is not a registered dataset"
    DATASETS.check_options(cfg.data.name, ["root", *cfg.data.options])


def test_every_group_file_is_listed():
    options = group_options()
    assert "experiment=thesis_ch4" in options and "head=stripes_individual" in options
    assert "sweep=quick_synthetic" in options and "debug=fast_dev_run" in options


@pytest.mark.parametrize("override", group_options())
def test_config_file_composes_and_names_real_components(override):
    cfg = compose_resolved("train", [override])
    check_components(cfg)


def test_eval_config_composes():
    cfg = compose_resolved("eval", ["ckpt_path=/tmp/x.ckpt"])
    assert cfg.data.name in DATASETS and cfg.evaluation.distance in ("euclidean", "cosine")
