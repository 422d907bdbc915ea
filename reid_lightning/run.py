"""What `train.py` and `eval.py` do once Hydra has composed the config.

train: build data and model from the config, fit, evaluate query vs gallery with the best
checkpoint, print and record the results, and put one hparams row (choices, complexity, results)
into TensorBoard. In a multirun a failing job is recorded as failed and the sweep goes on, and a
job whose folder already holds a finished result is skipped, so rerunning a sweep resumes it.
"""

import logging
import traceback
from contextlib import nullcontext
from pathlib import Path

import pytorch_lightning as pl
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from reid_lightning.checkpoint_config import check_checkpoint_matches, model_config_from_checkpoint
from reid_lightning.data.datamodule import DataConfig, ReIDDataModule
from reid_lightning.ddp_launch import lightning_will_launch_children, single_job_argv
from reid_lightning.models.module import ReIDModule
from reid_lightning.models.partition import create_partition
from reid_lightning.report import print_results
from reid_lightning.run_record import FAILED, FINISHED, RESULT_METRICS, is_finished, write_record

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


def build_datamodule(cfg: DictConfig, load_part_maps: bool) -> ReIDDataModule:
    data = OmegaConf.to_container(cfg.data, resolve=True)
    if data["root"] in (None, "", "None"):
        raise ValueError(f"data={data['name']} has no root folder. Set data.root=/path/to/Market-1501, or the "
                         "environment variable MARKET1501_ROOT, or `data: {root: ...}` in conf/local/default.yaml")
    return ReIDDataModule(DataConfig(**data), load_part_maps=load_part_maps)


def model_config(cfg: DictConfig) -> dict:
    """The model part of the config: what a checkpoint must match to be resumed or evaluated."""
    backbone = OmegaConf.to_container(cfg.backbone, resolve=True)
    preset_neck = backbone.pop("neck_dim", None)  # a backbone preset may carry its paper's fc width
    neck_dim = preset_neck if cfg.neck_dim is None else cfg.neck_dim  # top-level neck_dim wins; 0 = no neck
    return {"backbone": backbone, "partition": OmegaConf.to_container(cfg.partition, resolve=True),
            "classifier": OmegaConf.to_container(cfg.classifier, resolve=True), "neck_dim": neck_dim,
            "image_size": (cfg.data.height, cfg.data.width)}


def trainer_kwargs(cfg: DictConfig, datamodule: ReIDDataModule) -> dict:
    """Adjustments the config alone cannot express: CPU precision, the P x K sampler under DDP."""
    kwargs = {}
    if cfg.trainer.accelerator == "cpu" and "bf16" in str(cfg.trainer.precision):
        log.info("trainer.accelerator=cpu: using 32-bit precision instead of %s", cfg.trainer.precision)
        kwargs["precision"] = "32-true"
    if cfg.trainer.accelerator == "cpu" and cfg.trainer.get("sync_batchnorm"):
        log.info("trainer.accelerator=cpu: SyncBatchNorm needs GPUs, using per-rank batch norm")
        kwargs["sync_batchnorm"] = False
    if datamodule.needs_own_distributed_sampler:
        kwargs["use_distributed_sampler"] = False
    return kwargs


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """ckpt_path if given; with resume=auto the newest of last.ckpt and Lightning's SLURM hpc_ckpt_*.ckpt."""
    if cfg.ckpt_path:
        return str(cfg.ckpt_path)
    if cfg.resume != "auto":
        return None
    candidates = [p for p in [run_dir / "checkpoints" / "last.ckpt", *run_dir.glob("hpc_ckpt_*.ckpt")] if p.is_file()]
    if not candidates:
        return None
    newest = max(candidates, key=lambda p: p.stat().st_mtime)
    log.info("Resuming from %s", newest)
    return str(newest)


def fit_and_test(cfg: DictConfig) -> dict:
    run_dir = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    model_cfg = model_config(cfg)
    probe = create_partition(**model_cfg["partition"])
    datamodule = build_datamodule(cfg, load_part_maps=bool(getattr(probe, "requires_part_maps", False)))
    datamodule.prepare_data()
    datamodule.setup("fit")
    model = ReIDModule(**model_cfg, num_classes=datamodule.num_classes, num_part_labels=datamodule.num_part_labels,
                       optimizer=OmegaConf.to_container(cfg.optimizer, resolve=True),
                       scheduler=OmegaConf.to_container(cfg.scheduler, resolve=True),
                       loss=OmegaConf.to_container(cfg.loss, resolve=True),
                       evaluation=OmegaConf.to_container(cfg.evaluation, resolve=True))
    ckpt_path = resume_checkpoint(cfg, run_dir)
    if ckpt_path:
        check_checkpoint_matches(ckpt_path, model.hparams)
    callbacks_cfg = OmegaConf.to_container(cfg.callbacks, resolve=True) if cfg.get("callbacks") else {}
    callbacks_cfg = {name: c for name, c in callbacks_cfg.items() if c}  # callbacks.<name>=null switches one off
    if datamodule.val is None and "model_checkpoint" in callbacks_cfg:
        callbacks_cfg["model_checkpoint"]["monitor"] = None  # no validation: keep the last epoch
    callbacks = [instantiate(c) for c in callbacks_cfg.values()]
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers,
                                      **trainer_kwargs(cfg, datamodule))
    launches = lightning_will_launch_children(cfg.trainer.get("strategy"), cfg.trainer.devices, cfg.trainer.num_nodes)
    with single_job_argv() if launches else nullcontext():
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        results, best = {}, None
        if cfg.test:
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            trainer.test(model, datamodule=datamodule, ckpt_path=best or None, weights_only=False)
            results = {k: float(v) for k, v in model.test_results.items()}
    complexity = getattr(model, "complexity", {}) or {}
    callback = trainer.checkpoint_callback
    if callback is not None and callback.monitor and callback.best_model_score is not None:
        results[f"best_{callback.monitor}"] = float(callback.best_model_score)
    if trainer.is_global_zero:
        log_hparams_row(trainer, cfg, complexity, results)
        print_results(results, title=f"Test results ({cfg.data.name}: query vs gallery)")
    return {"metrics": results, "complexity": complexity, "best_checkpoint": best,
            "epochs": trainer.current_epoch}


def log_hparams_row(trainer: pl.Trainer, cfg: DictConfig, complexity: dict, results: dict) -> None:
    """One row per run in TensorBoard's hparams view: the run's choices next to its cost and results."""
    params = {**run_choices(), "image_size": f"{cfg.data.height}x{cfg.data.width}",
              "batch_size": cfg.data.batch_size, "lr": cfg.optimizer.lr, "max_epochs": cfg.trainer.max_epochs,
              "seed": cfg.seed}
    metrics = {f"test/{k}": v for k, v in results.items() if k in RESULT_METRICS}
    metrics.update({f"complexity/{k}": float(v) for k, v in complexity.items() if isinstance(v, (int, float))})
    for logger in trainer.loggers:
        if isinstance(logger, pl.loggers.TensorBoardLogger):
            logger.log_hyperparams(params, metrics)
            logger.finalize("success")


def train(cfg: DictConfig) -> dict:
    """Hydra task of train.py; returns the test metrics (used by sweepers such as Optuna)."""
    run_dir = Path(cfg.paths.output_dir)
    choices = run_choices()
    if is_multirun() and cfg.skip_finished and is_finished(run_dir):
        log.info("Skipping %s: it already holds a finished result", run_dir)
        return {}
    try:
        outcome = fit_and_test(cfg)
    except Exception as err:
        if rank_zero_only.rank == 0:  # the global rank, from the environment before DDP starts (srun ranks)
            write_record(run_dir, FAILED, choices, error=f"{type(err).__name__}: {err}",
                         traceback=traceback.format_exc())
        if not is_multirun():
            raise
        log.error("Run %s failed (%s: %s); the sweep goes on", run_dir, type(err).__name__, err)
        return {}
    if rank_zero_only.rank == 0:
        write_record(run_dir, FINISHED, choices, **outcome)
    metrics = outcome["metrics"]
    return {**{f"test/{k}": v for k, v in metrics.items() if not k.startswith("best_")},
            **{k.removeprefix("best_"): v for k, v in metrics.items() if k.startswith("best_")}}


def evaluate(cfg: DictConfig) -> dict:
    """Hydra task of eval.py: test a checkpoint, rebuilding the model from the config stored in it."""
    model_cfg = model_config_from_checkpoint(cfg.ckpt_path)
    model = ReIDModule.load_from_checkpoint(cfg.ckpt_path, map_location="cpu", weights_only=False,
                                            backbone={**model_cfg["backbone"], "pretrained": False},
                                            evaluation=OmegaConf.to_container(cfg.evaluation, resolve=True))
    height, width = model.hparams.image_size
    if (cfg.data.height, cfg.data.width) != (height, width):
        log.warning("Evaluating at the checkpoint's input size %dx%d, not data's %dx%d",
                    height, width, cfg.data.height, cfg.data.width)
        cfg.data.height, cfg.data.width = height, width
    datamodule = build_datamodule(cfg, load_part_maps=model.requires_part_maps)
    loggers = [instantiate(c) for c in (cfg.get("logger") or {}).values()]
    trainer: pl.Trainer = instantiate(cfg.trainer, logger=loggers, callbacks=[])
    trainer.test(model, datamodule=datamodule)
    results = {k: float(v) for k, v in model.test_results.items()}
    if trainer.is_global_zero:
        print_results(results, title=f"Test results of {cfg.ckpt_path}")
        write_record(Path(cfg.paths.output_dir), FINISHED, run_choices(), metrics=results,
                     checkpoint=str(cfg.ckpt_path))
    return results
