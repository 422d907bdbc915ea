"""Config -> the pieces of a run: the data module, the model, the trainer (with callbacks and loggers).

Each piece is built from its own part of the composed config; nothing is built only to ask a question
(whether part maps are needed is a fact of the partition's class, read from the registry), and the one
fact the model takes from the data, its number of identities, is asked of the data module.
"""

import logging
from pathlib import Path

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from reid_lightning.data.datamodule import DataConfig, ReIDDataModule
from reid_lightning.data.datasets import DatasetSpec
from reid_lightning.data.transforms import eval_preprocessing
from reid_lightning.models.backbones import BACKBONES
from reid_lightning.models.checkpoint_file import read_checkpoint
from reid_lightning.models.module import ReIDModule
from reid_lightning.models.partitions import PARTITIONS
from reid_lightning.run.atomic_checkpoint_io import AtomicCheckpointIO
from reid_lightning.run.data_presets import checked, dataset_specs

log = logging.getLogger(__name__)
NOT_CHOICES = ("paths", "local", "logger", "callbacks")  # plumbing, not what distinguishes runs


def run_choices() -> dict:
    """Config-group choices of this run (backbone=osnet, ...), without Hydra's own groups."""
    if not HydraConfig.initialized():
        return {}
    choices = HydraConfig.get().runtime.choices
    return {k: v for k, v in choices.items() if not k.startswith("hydra") and k not in NOT_CHOICES and v is not None}


def is_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def plain(node) -> dict:
    return OmegaConf.to_container(node, resolve=True)


def build_datamodule(
    cfg: DictConfig, load_part_maps: bool, train: bool = True, load_train_part_maps: bool | None = None
) -> ReIDDataModule:
    """The data module of `cfg.data`: its own dataset, or `data.sources` / `data.targets` (run/data_presets.py).
    A source or target named like the run's own preset is its dataset as configured here (command-line
    `data.root=...` included). `train=False` (eval.py): sources are not read; the targets stand in for them.
    Part maps: `load_part_maps` for every split, `load_train_part_maps` for the training ones (default: the same)."""
    data = plain(cfg.data)
    source_entries, target_entries = data.pop("sources", None), data.pop("targets", None)
    key = run_choices().get("data") or data["name"]  # the preset's name names the dataset in logs and tables
    own = DatasetSpec(key, data["name"], data["root"], dict(data.get("options") or {}), data.get("part_maps"))
    sources = dataset_specs(source_entries, "data.sources", known=[own]) if train else None
    targets = dataset_specs(target_entries, "data.targets", known=[own, *(sources or [])])
    if not train:
        sources = targets
    return ReIDDataModule(
        DataConfig(**data),
        load_part_maps=load_part_maps,
        sources=sources or [checked(own, f"data={key}")],
        targets=targets,
        load_train_part_maps=load_train_part_maps,
    )


def neck_width(neck_dim, backbone_name: str) -> int | None:
    """The per-part fc width: an int (0 = none), or `paper` = the fc the backbone's paper puts after pooling."""
    if neck_dim != "paper":
        return neck_dim
    builder = BACKBONES.get(backbone_name.lower()) if backbone_name.lower() in BACKBONES else None
    return getattr(builder, "paper_neck_dim", None)


def model_config(cfg: DictConfig) -> dict:
    """The model part of the config: what a checkpoint must match to be resumed or evaluated."""
    return {
        "backbone": plain(cfg.backbone),
        "partition": plain(cfg.partition),
        "classifier": plain(cfg.classifier),
        "neck_dim": neck_width(cfg.neck_dim, cfg.backbone.name),
        "image_size": (cfg.data.height, cfg.data.width),
    }


def needs_part_maps(cfg: DictConfig) -> bool:
    """The partition's forward pass needs part maps: every split loads them."""
    return bool(PARTITIONS.get(cfg.partition.name).requires_part_maps)


def needs_train_part_maps(cfg: DictConfig) -> bool:
    """The partition's training step needs part maps (a predicted-mask partition learns from them), or a
    distillation teacher's forward pass does (a mask-head teacher)."""
    teacher = distill_teacher(cfg)
    if teacher is not None:
        teacher_partition = read_checkpoint(teacher)["hyper_parameters"]["partition"]["name"]
        if PARTITIONS.get(teacher_partition).requires_part_maps:
            return True
    return bool(PARTITIONS.get(cfg.partition.name).requires_part_maps_for_training)


SWEEP_TEACHER = "sweep:"  # distill.teacher=sweep:<backbone>: that backbone's plain run in this sweep's folder


def distill_teacher(cfg: DictConfig) -> str | None:
    """The teacher checkpoint of `distill.teacher` (conf/distill): a path, or `sweep:<backbone>` (the sweep's
    finished run of that backbone without distillation, run/frontier.py); None: no distillation."""
    distill = cfg.get("distill")
    teacher = str(distill.teacher) if distill is not None and distill.get("teacher") else None
    if teacher is None or not teacher.startswith(SWEEP_TEACHER):
        return teacher
    from reid_lightning.run.frontier import sweep_teacher

    if not is_multirun():
        raise ValueError(
            f"distill.teacher={teacher} names a run of this sweep's folder, but this is no sweep; pass "
            "distill.teacher=<checkpoint>"
        )
    sweep_dir = Path(cfg.paths.output_dir).parent  # a job's folder is <sweep dir>/<num>_<choices>
    return sweep_teacher(sweep_dir, teacher.removeprefix(SWEEP_TEACHER), seed=cfg.seed)


def attach_distiller(cfg: DictConfig, model: ReIDModule) -> None:
    """Give the student its frozen teacher's losses (models/distillation.py); the teacher is read like every
    checkpoint (deploy.load_model: our train.py's files only, rebuilt from their stored config, eval mode)."""
    from reid_lightning.deploy.trained_model import load_model
    from reid_lightning.models.distillation import build_distiller

    path = distill_teacher(cfg)
    teacher, _ = load_model(path)
    terms = {k: v for k, v in plain(cfg.distill).items() if k != "teacher"}
    try:
        model.distiller = build_distiller(model, teacher, **terms)
    except ValueError as err:
        raise ValueError(f"distill.teacher={path}: {err}") from err
    log.info(
        "Distilling from %s (backbone=%s, partition=%s)",
        path,
        teacher.hparams.backbone.get("name"),
        teacher.hparams.partition.get("name"),
    )


def build_model(cfg: DictConfig, datamodule: ReIDDataModule) -> ReIDModule:
    """The model; besides its config it keeps the data's eval preprocessing, for users of its checkpoints.
    With `distill.teacher`, it trains against that frozen teacher (attach_distiller)."""
    model = ReIDModule(
        **model_config(cfg),
        num_classes=datamodule.num_classes,
        num_part_labels=datamodule.num_part_labels,
        optimizer=plain(cfg.optimizer),
        scheduler=plain(cfg.scheduler),
        loss=plain(cfg.loss),
        evaluation=plain(cfg.evaluation),
        preprocessing=eval_preprocessing(datamodule.transform_cfg),
        head_init=cfg.head_init,
    )
    if distill_teacher(cfg) is not None:
        attach_distiller(cfg, model)
    return model


def trainer_kwargs(cfg: DictConfig, datamodule: ReIDDataModule | None) -> dict:
    """Adjustments the config alone cannot express: CPU precision, the P x K sampler under DDP, atomic checkpoints."""
    kwargs = {}
    if cfg.trainer.accelerator == "cpu" and "bf16" in str(cfg.trainer.precision):
        log.info("trainer.accelerator=cpu: using 32-bit precision instead of %s", cfg.trainer.precision)
        kwargs["precision"] = "32-true"
    if cfg.trainer.accelerator == "cpu" and cfg.trainer.get("sync_batchnorm"):
        log.info("trainer.accelerator=cpu: SyncBatchNorm needs GPUs, using per-rank batch norm")
        kwargs["sync_batchnorm"] = False
    if datamodule is not None and datamodule.needs_own_distributed_sampler:
        kwargs["use_distributed_sampler"] = False
    if not cfg.trainer.get("plugins"):
        kwargs["plugins"] = [AtomicCheckpointIO()]  # a full disk or a kill never leaves a truncated checkpoint
    return kwargs


def build_callbacks(cfg: DictConfig, validates: bool) -> list[pl.Callback]:
    """The callbacks of conf/callbacks (`callbacks.<name>=null` switches one off)."""
    callbacks_cfg = plain(cfg.callbacks) if cfg.get("callbacks") else {}
    callbacks_cfg = {name: c for name, c in callbacks_cfg.items() if c}
    if not validates and "model_checkpoint" in callbacks_cfg:
        callbacks_cfg["model_checkpoint"]["monitor"] = None  # no validation: keep the last epoch
    return [instantiate(c) for c in callbacks_cfg.values()]


def build_trainer(
    cfg: DictConfig, datamodule: ReIDDataModule | None, callbacks: list[pl.Callback] | None = None
) -> pl.Trainer:
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    return instantiate(cfg.trainer, callbacks=callbacks or [], logger=loggers, **trainer_kwargs(cfg, datamodule))
