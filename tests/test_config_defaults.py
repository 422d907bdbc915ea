"""Every configured value has one default: a Python default of a value the YAML configures must equal it.

The YAML under conf/ is the home of the defaults; what the config builds by name (backbones, partitions,
classifiers, optimisers, schedules), the data module's and the transform's settings, the loss and evaluation
settings and the retrieval metric either take a value without a Python default, or with the YAML's. A
component built from Python (a notebook, a benchmark, the FeatureExtractor) thus behaves as in a run. Each
group's file named like a component is its default (conf/optimizer/sgd.yaml for `sgd`; variants such as
conf/backbone/resnet50_ls1.yaml are presets, not defaults), composed with the train config so interpolations
resolve; the data settings are those of the default `data=synthetic`.
"""

import inspect
from dataclasses import MISSING, fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from reid_lightning.data.datamodule import DataConfig
from reid_lightning.data.transforms import TransformConfig
from reid_lightning.metrics import RetrievalMetric
from reid_lightning.models.backbones import BACKBONES
from reid_lightning.models.classifier import CLASSIFIERS
from reid_lightning.models.module import ReIDModule
from reid_lightning.models.optimization import OPTIMIZERS, SCHEDULERS
from reid_lightning.models.partitions import PARTITIONS
from reid_lightning.models.settings import EvaluationSettings, LossSettings
from tests.test_configs import compose_resolved, hydra_conf  # noqa: F401  (hydra_conf: the module Hydra set-up)

CONF = Path(__file__).resolve().parents[1] / "conf"
REGISTRIES = {
    "optimizer": OPTIMIZERS,
    "scheduler": SCHEDULERS,
    "backbone": BACKBONES,
    "partition": PARTITIONS,
    "classifier": CLASSIFIERS,
}


def composed(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_resolved("train", list(overrides)))


def python_defaults(builder) -> dict:
    """Parameter -> default of a function, class or dataclass (parameters without one are left out)."""
    if hasattr(builder, "__dataclass_fields__"):
        return {f.name: f.default for f in fields(builder) if f.default is not MISSING}
    return {
        name: p.default
        for name, p in inspect.signature(builder).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def same(python, yaml) -> bool:
    normal = lambda v: list(v) if isinstance(v, tuple | list) else v  # noqa: E731  YAML lists vs Python tuples
    return normal(python) == normal(yaml)


def differences(builder, values: dict, where: str) -> list[str]:
    defaults = python_defaults(builder)
    return [
        f"{where}: {key} is {value!r} in the YAML but {defaults[key]!r} in {builder.__qualname__}"
        for key, value in values.items()
        if key in defaults and not same(defaults[key], value)
    ]


def group_files(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.mark.parametrize("group", sorted(REGISTRIES))
def test_named_components_default_as_their_yaml(group):
    problems = []
    for option in group_files(group):
        values = composed(f"{group}={option}")[group]
        name = values.pop("name").lower()
        if name not in REGISTRIES[group]:
            continue  # a timm backbone: timm's own defaults apply to timm's options
        if option != name and (CONF / group / f"{name}.yaml").is_file():
            continue  # a variant preset (resnet50_ls1, global_gem): the defaults are those of <name>.yaml
        problems += differences(REGISTRIES[group].get(name), values, f"conf/{group}/{option}.yaml")
    assert not problems, "\n".join(problems)


def test_data_transform_loss_evaluation_and_module_default_as_the_yaml():
    cfg = composed()
    problems = differences(DataConfig, cfg["data"], "conf/data/synthetic.yaml")
    problems += differences(TransformConfig, cfg["data"]["augment"], "conf/data/synthetic.yaml augment")
    problems += differences(LossSettings, cfg["loss"], "conf/loss/cross_entropy.yaml")
    problems += differences(EvaluationSettings, cfg["evaluation"], "conf/evaluation/default.yaml")
    problems += differences(ReIDModule, {key: cfg[key] for key in ("neck_dim", "head_init")}, "conf/train.yaml")
    metric = {key: value for key, value in cfg["evaluation"].items() if key != "metric"}
    problems += differences(RetrievalMetric, metric, "conf/evaluation/default.yaml (RetrievalMetric)")
    assert not problems, "\n".join(problems)


def test_settings_name_the_yaml_keys_they_take():
    """The dataclasses hold exactly the keys of their YAML groups (a key added to one is added to the other)."""
    cfg = composed()
    assert {f.name for f in fields(LossSettings)} == set(cfg["loss"])
    assert {f.name for f in fields(EvaluationSettings)} == set(cfg["evaluation"]) - {"metric"}  # metric: renamed


def test_a_difference_is_found():
    """The check itself: a default that differs from the YAML is reported, an equal one is not."""

    def sgd(params, lr: float = 0.1, nesterov: bool = True):
        return None

    assert differences(sgd, {"lr": 0.05, "nesterov": True}, "x") == [
        "x: lr is 0.05 in the YAML but 0.1 in test_a_difference_is_found.<locals>.sgd"
    ]
