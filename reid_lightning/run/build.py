"""Config -> the pieces of a run: the data module, the model, the trainer (with callbacks and loggers).

Each piece is built from its own part of the composed config; nothing is built only to ask a question
(whether part maps are needed is a fact of the partition's class, read from the registry), and the one
fact the model takes from the data, its number of identities, is asked of the data module.
"""

import logging

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from reid_lightning.data.datamodule import DataConfig, ReIDDataModule
from reid_lightning.data.transforms import eval_preprocessing
from reid_lightning.models.backbones import BACKBONES
from reid_lightning.models.module import ReIDModule
from reid_lightning.models.partition import PARTITIONS

log = logging.getLogger(__name__)
NOT_CHOICES = ("paths", "local", "logger", "callbacks")  # plumbing, not what distinguishes runs


def run_choices() -> dict:
    """Config-group choices of this run (backbone=osnet, ...), without Hydra's own groups."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {k: v for k, v in choices.items()
            if not k.startswith("hydra") and k not in NOT_CHOICES and v is not None}


def is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def plain(node) -> dict:
    return OmegaConf.to_container(node, resolve=True)


def build_datamodule(cfg: DictConfig, load_part_maps: bool) -> ReIDDataModule:
    data = plain(cfg.data)
    if data["root"] in (None, "", "None"):
        raise ValueError(f"data={data['name']} has no root folder. Set data.root=/path/to/the/dataset, or the "
                         "environment variable of its config (e.g. MARKET1501_ROOT), or `data: {root: ...}` in "
                         "conf/local/default.yaml")
    return ReIDDataModule(DataConfig(**data), load_part_maps=load_part_maps)


def neck_width(neck_dim, backbone_name: str) -> int | None:
    """The per-part fc width: an int (0 = none), or `paper` = the fc the backbone's paper puts after pooling."""
    if neck_dim != "paper":
        return neck_dim
    builder = BACKBONES.get(backbone_name.lower()) if backbone_name.lower() in BACKBONES else None
    return getattr(builder, "paper_neck_dim", None)


def model_config(cfg: DictConfig) -> dict:
    """The model part of the config: what a checkpoint must match to be resumed or evaluated."""
    return {"backbone": plain(cfg.backbone), "partition": plain(cfg.partition), "classifier": plain(cfg.classifier),
            "neck_dim": neck_width(cfg.neck_dim, cfg.backbone.name), "image_size": (cfg.data.height, cfg.data.width)}


def needs_part_maps(cfg: DictConfig) -> bool:
    return bool(PARTITIONS.get(cfg.partition.name).requires_part_maps)


def build_model(cfg: DictConfig, datamodule: ReIDDataModule) -> ReIDModule:
    """The model; besides its config it keeps the data's eval preprocessing, for users of its checkpoints."""
    return ReIDModule(**model_config(cfg), num_classes=datamodule.num_classes,
                      num_part_labels=datamodule.num_part_labels, optimizer=plain(cfg.optimizer),
                      scheduler=plain(cfg.scheduler), loss=plain(cfg.loss), evaluation=plain(cfg.evaluation),
                      preprocessing=eval_preprocessing(datamodule.transform_cfg))


def trainer_kwargs(cfg: DictConfig, datamodule: ReIDDataModule | None) -> dict:
    """Adjustments the config alone cannot express: CPU precision, the P x K sampler under DDP."""
    kwargs = {}
    if cfg.trainer.accelerator == "cpu" and "bf16" in str(cfg.trainer.precision):
        log.info("trainer.accelerator=cpu: using 32-bit precision instead of %s", cfg.trainer.precision)
        kwargs["precision"] = "32-true"
    if cfg.trainer.accelerator == "cpu" and cfg.trainer.get("sync_batchnorm"):
        log.info("trainer.accelerator=cpu: SyncBatchNorm needs GPUs, using per-rank batch norm")
        kwargs["sync_batchnorm"] = False
    if datamodule is not None and datamodule.needs_own_distributed_sampler:
        kwargs["use_distributed_sampler"] = False
    return kwargs


def build_callbacks(cfg: DictConfig, validates: bool) -> list[pl.Callback]:
    """The callbacks of conf/callbacks (`callbacks.<name>=null` switches one off)."""
    callbacks_cfg = plain(cfg.callbacks) if cfg.get("callbacks") else {}
    callbacks_cfg = {name: c for name, c in callbacks_cfg.items() if c}
    if not validates and "model_checkpoint" in callbacks_cfg:
        callbacks_cfg["model_checkpoint"]["monitor"] = None  # no validation: keep the last epoch
    return [instantiate(c) for c in callbacks_cfg.values()]


def build_trainer(cfg: DictConfig, datamodule: ReIDDataModule | None,
                  callbacks: list[pl.Callback] | None = None) -> pl.Trainer:
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    return instantiate(cfg.trainer, callbacks=callbacks or [], logger=loggers, **trainer_kwargs(cfg, datamodule))
