"""What `train.py` does once Hydra has composed the config.

Build data and model from the config, fit, evaluate query vs gallery with the best checkpoint, print
and record the results, and put one hparams row (choices, complexity, results) into TensorBoard. In a
multirun a failing job is recorded as failed and the sweep goes on, and a job whose folder already
holds a finished result is skipped, so rerunning a sweep resumes it. An interrupted run (SIGTERM) is
recorded as interrupted and exits non-zero (run/faults.py); a run with NaN test metrics fails.
"""

import logging
import traceback
from contextlib import nullcontext
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from reid_lightning.data.verify import check_datamodule
from reid_lightning.metrics.names import result_keys
from reid_lightning.models.checkpoint_file import CheckpointMismatch, check_checkpoint_matches
from reid_lightning.reporting.console import print_results
from reid_lightning.reporting.run_records import (
    FAILED,
    FINISHED,
    RECORD_NAME,
    is_finished,
    read_complexity,
    write_record,
)
from reid_lightning.run.build import (
    build_callbacks,
    build_datamodule,
    build_model,
    build_trainer,
    is_multirun,
    model_config,
    needs_part_maps,
    needs_train_part_maps,
    run_choices,
)
from reid_lightning.run.config_check import ConfigError, check_config, hydra_choices
from reid_lightning.run.config_tree import print_config_tree
from reid_lightning.run.ddp_launch import lightning_will_launch_children, single_job_argv
from reid_lightning.run.faults import record_interruption, require_finite_results, sigterm_interrupts
from reid_lightning.run.resume import newest_readable_checkpoint
from reid_lightning.run.run_folder import Refused, RunFolderBusy, hold_run_folder, save_hydra_files

log = logging.getLogger(__name__)


def resume_checkpoint(cfg: DictConfig, run_dir: Path) -> str | None:
    """ckpt_path if given; with resume=auto the run folder's newest readable checkpoint (run/resume.py)."""
    if cfg.ckpt_path:
        return str(cfg.ckpt_path)
    if cfg.resume != "auto":
        return None
    newest = newest_readable_checkpoint(run_dir)
    if newest is None:
        return None
    log.info("Resuming from %s", newest)
    return str(newest)


def metrics_of(trainer_output: list[dict], prefix: str = "test/") -> dict:
    """trainer.test's return value, one dict per test loader ([{"test/rank1": ...}], or with targets
    [{"test/market1501/rank1": ..., "test/dukemtmc/rank1": ...}, ...]) -> {"rank1": ...} / {"market1501/rank1": ...}."""
    return {
        k.removeprefix(prefix): float(v) for output in trainer_output for k, v in output.items() if k.startswith(prefix)
    }


def datasets_of(datamodule) -> dict:
    """What a record says about the data: the keys of the datasets trained on, and of the named test
    targets whose results are keyed `<target>/<metric>` (None: one unnamed test set, keys `<metric>`)."""
    return {"sources": [s.key for s in datamodule.sources], "targets": datamodule.test_targets}


def fit_and_test(cfg: DictConfig) -> dict:
    run_dir = Path(cfg.paths.output_dir)
    pl.seed_everything(cfg.seed, workers=True)
    ckpt_path = resume_checkpoint(cfg, run_dir)
    if ckpt_path:  # the model and input size, before any data is read
        check_checkpoint_matches(ckpt_path, model_config(cfg))
    datamodule = build_datamodule(
        cfg, load_part_maps=needs_part_maps(cfg), load_train_part_maps=needs_train_part_maps(cfg)
    )
    check_datamodule(datamodule, train=True, test=bool(cfg.test))  # before any training
    model = build_model(cfg, datamodule)
    if ckpt_path:  # and the numbers of identities and part labels, now that the data knows them
        check_checkpoint_matches(ckpt_path, model.hparams)
    if rank_zero_only.rank == 0:
        save_hydra_files(cfg)  # the run is accepted: its .hydra/ now describes it
    trainer = build_trainer(cfg, datamodule, build_callbacks(cfg, validates=datamodule.val is not None))
    launches = lightning_will_launch_children(cfg.trainer.get("strategy"), cfg.trainer.devices, cfg.trainer.num_nodes)
    with single_job_argv() if launches else nullcontext():
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path)
        results, best = {}, None
        if cfg.test:
            best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            results = metrics_of(
                trainer.test(
                    model,
                    datamodule=datamodule,
                    ckpt_path=best or None,
                    weights_only=False,
                    verbose=not datamodule.test_targets,
                )
            )
    complexity = read_complexity(run_dir)
    callback = trainer.checkpoint_callback
    if callback is not None and callback.monitor and callback.best_model_score is not None:
        results[f"best_{callback.monitor}"] = float(callback.best_model_score)
    if trainer.is_global_zero:
        log_hparams_row(trainer, cfg, complexity, results, datamodule.test_targets)
        sources = " + ".join(s.key for s in datamodule.sources)
        print_results(
            results, title=f"Test results (trained on {sources}; query vs gallery)", targets=datamodule.test_targets
        )
    return {
        "metrics": results,
        "complexity": complexity,
        "best_checkpoint": best,
        "epochs": trainer.current_epoch,
        **datasets_of(datamodule),
    }


def log_hparams_row(
    trainer: pl.Trainer, cfg: DictConfig, complexity: dict, results: dict, targets: list[str] | None = None
) -> None:
    """One row per run in TensorBoard's hparams view: the run's choices next to its cost and results; the other
    loggers (CSV, wandb, MLflow) get the same choices as hyper-parameters and the same figures as metrics."""
    params = {
        **run_choices(),
        "image_size": f"{cfg.data.height}x{cfg.data.width}",
        "batch_size": cfg.data.batch_size,
        "lr": cfg.optimizer.lr,
        "max_epochs": cfg.trainer.max_epochs,
        "seed": cfg.seed,
    }
    machine = complexity.get("machine")  # where latency was measured (callbacks.complexity.latency=true)
    if isinstance(machine, dict):
        params["latency_machine"] = f"{machine.get('cpu')} ({machine.get('cores')} cores), gpu: {machine.get('gpu')}"
    metrics = {f"test/{key}": results[key] for _, _, key in result_keys(targets) if key in results}
    metrics.update({f"complexity/{k}": float(v) for k, v in complexity.items() if isinstance(v, (int, float))})
    for logger in trainer.loggers:
        if isinstance(logger, pl.loggers.TensorBoardLogger):
            logger.log_hyperparams(params, metrics)
        else:
            logger.log_hyperparams(params)
            logger.log_metrics(metrics, step=trainer.global_step)
        logger.finalize("success")


def train(cfg: DictConfig) -> dict:
    """Hydra task of train.py; returns the test metrics (used by sweepers such as Optuna)."""
    run_dir = Path(cfg.paths.output_dir)
    choices = run_choices()
    if is_multirun() and cfg.skip_finished and is_finished(run_dir):
        log.info("Skipping %s: it already holds a finished result", run_dir)
        return {}
    rank_zero = rank_zero_only.rank == 0  # the global rank, from the environment before DDP starts (srun ranks)
    had_record = (run_dir / RECORD_NAME).exists()
    try:
        check_config(cfg, hydra_choices(), primary="train")  # before anything is read, built or written
        with hold_run_folder(run_dir) if rank_zero else nullcontext():
            return train_in_folder(cfg, run_dir, choices, had_record)
    except (ConfigError, Refused) as err:  # a busy folder or a bad value: the folder is left as it was
        return refuse(
            cfg, run_dir, choices, err, write=rank_zero and not had_record and not isinstance(err, RunFolderBusy)
        )


def refuse(cfg: DictConfig, run_dir: Path, choices: dict, err: Exception, write: bool) -> dict:
    """A run refused before it started: recorded as failed in a fresh folder (`write`), else nothing is written."""
    if write:
        save_hydra_files(cfg)
        write_record(run_dir, FAILED, choices, error=f"{type(err).__name__}: {err}")
    else:
        log.error("Refused: %s (%s/result.json and .hydra/ are left as they were)", err, run_dir)
    if not is_multirun():
        raise err
    log.error("Run %s refused (%s: %s); the sweep goes on", run_dir, type(err).__name__, err)
    return {}


def train_in_folder(cfg: DictConfig, run_dir: Path, choices: dict, had_record: bool) -> dict:
    """Fit and test, holding the run folder: records the outcome (finished, failed, interrupted)."""
    print_config_tree(cfg, run_dir)
    try:
        with sigterm_interrupts():
            outcome = require_finite_results(fit_and_test(cfg))
    except (SystemExit, KeyboardInterrupt) as stop:  # SIGTERM (Lightning's SIGTERMException), Ctrl-C, requeue
        raise record_interruption(run_dir, choices, stop, is_multirun(), write=rank_zero_only.rank == 0) from stop
    except CheckpointMismatch as err:  # the checkpoint to resume does not fit: refused, the folder as it was
        return refuse(cfg, run_dir, choices, err, write=rank_zero_only.rank == 0 and not had_record)
    except Exception as err:
        if rank_zero_only.rank == 0:
            save_hydra_files(cfg)
            write_record(
                run_dir, FAILED, choices, error=f"{type(err).__name__}: {err}", traceback=traceback.format_exc()
            )
        if not is_multirun():
            raise
        log.error("Run %s failed (%s: %s); the sweep goes on", run_dir, type(err).__name__, err)
        return {}
    if rank_zero_only.rank == 0:
        write_record(run_dir, FINISHED, choices, **outcome)
    metrics = outcome["metrics"]
    return {
        **{f"test/{k}": v for k, v in metrics.items() if not k.startswith("best_")},
        **{k.removeprefix("best_"): v for k, v in metrics.items() if k.startswith("best_")},
    }
