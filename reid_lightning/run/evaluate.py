"""What `eval.py` does: test a checkpoint on a dataset's query vs gallery (or on each of `data.targets`),
with the model rebuilt from the config stored in the checkpoint (the command line chooses data, evaluation
options and devices only; the record names the checkpoint's model, whatever model choices the command line
holds). The record names the datasets the checkpoint was trained on when its training run's record is beside
it (`<run>/checkpoints/*.ckpt`), so cross-domain tables can lay source by target."""

import logging
from contextlib import nullcontext
from pathlib import Path

from omegaconf import DictConfig, open_dict
from pytorch_lightning.utilities.exceptions import SIGTERMException
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from reid_lightning.data.verify import check_datamodule
from reid_lightning.deploy.trained_model import model_from_checkpoint
from reid_lightning.models.checkpoint_file import MODEL_KEYS, read_checkpoint
from reid_lightning.reporting.console import print_results
from reid_lightning.reporting.run_records import FINISHED, read_record, write_record
from reid_lightning.run.build import build_datamodule, build_trainer, plain, run_choices
from reid_lightning.run.config_check import check_config, hydra_choices
from reid_lightning.run.config_tree import print_config_tree
from reid_lightning.run.faults import record_interruption, require_finite_results, sigterm_interrupts
from reid_lightning.run.run_folder import hold_run_folder, save_hydra_files
from reid_lightning.run.train import metrics_of

log = logging.getLogger(__name__)
MODEL_GROUPS = ("backbone", "partition", "classifier")  # config groups a checkpoint decides, not the command line


def evaluate(cfg: DictConfig) -> dict:
    """Hydra task of eval.py; returns the test metrics. SIGTERM or Ctrl-C: recorded as interrupted, exit 143 / 1."""
    check_config(cfg, hydra_choices(), primary="eval")  # before the checkpoint or any data is read
    run_dir, rank_zero = Path(cfg.paths.output_dir), rank_zero_only.rank == 0
    try:
        with hold_run_folder(run_dir) if rank_zero else nullcontext(), sigterm_interrupts():
            if rank_zero:
                save_hydra_files(cfg)
            return evaluate_checkpoint(cfg)
    except (SystemExit, KeyboardInterrupt) as stop:  # Lightning's SIGTERMException is a SystemExit (code None: 0)
        raise record_interruption(run_dir, run_choices(), stop, False, write=rank_zero_only.rank == 0) from stop


def evaluate_checkpoint(cfg: DictConfig) -> dict:
    print_config_tree(cfg, Path(cfg.paths.output_dir))
    checkpoint = read_checkpoint(cfg.ckpt_path)
    model_cfg = {k: v for k, v in checkpoint["hyper_parameters"].items() if k in MODEL_KEYS}
    choices = evaluated_choices(run_choices(), model_cfg, cfg.ckpt_path)
    model = model_from_checkpoint(checkpoint, cfg.ckpt_path, evaluation=plain(cfg.evaluation))
    del checkpoint
    height, width = model.hparams.image_size
    if (cfg.data.height, cfg.data.width) != (height, width):
        log.warning(
            "Evaluating at the checkpoint's input size %dx%d, not data's %dx%d",
            height,
            width,
            cfg.data.height,
            cfg.data.width,
        )
        cfg.data.height, cfg.data.width = height, width
    stored = model.hparams.get("preprocessing") or {}  # absent from checkpoints written before it was stored
    augment = plain(cfg.data.augment) if cfg.data.get("augment") else {}
    with open_dict(cfg):  # evaluate with the normalisation and resize filter the model was trained with
        cfg.data.augment = {**augment, **{k: stored[k] for k in ("mean", "std", "interpolation") if k in stored}}
    datamodule = build_datamodule(cfg, load_part_maps=model.requires_part_maps, train=False)
    check_datamodule(datamodule, train=False, test=True)
    trainer = build_trainer(cfg, datamodule=None)
    results = metrics_of(trainer.test(model, datamodule=datamodule, verbose=not datamodule.test_targets))
    if trainer.received_sigterm:  # on the last batch Lightning finishes the test instead of raising
        raise SIGTERMException()
    require_finite_results({"metrics": results})
    if trainer.is_global_zero:
        print_results(results, title=f"Test results of {cfg.ckpt_path}", targets=datamodule.test_targets)
        write_record(
            Path(cfg.paths.output_dir),
            FINISHED,
            choices,
            metrics=results,
            checkpoint=str(cfg.ckpt_path),
            model=model_cfg,
            sources=trained_on(cfg.ckpt_path),
            targets=datamodule.test_targets,
        )
    return results


def trained_on(ckpt_path: str) -> list[str] | None:
    """The sources recorded by the training run that wrote `ckpt_path` (None when its record is not there)."""
    record = read_record(Path(ckpt_path).resolve().parents[1]) or {}
    return record.get("sources")


def evaluated_choices(command_line: dict, model_cfg: dict, ckpt_path) -> dict:
    """The record's choices: the command line's data/evaluation/trainer choices, and the model that actually ran,
    the checkpoint's (a model choice on the command line is overridden by it: warn when the two differ)."""
    ran = {group: model_cfg[group]["name"] for group in MODEL_GROUPS if isinstance(model_cfg.get(group), dict)}
    differing = {
        g: (command_line[g], ran.get(g))
        for g in (*MODEL_GROUPS, "head")
        if g in command_line and command_line[g] != ran.get(g)
    }
    if differing:
        log.warning(
            "Ignoring the command line's model choices %s: %s holds %s, which is what is evaluated and recorded",
            ", ".join(f"{g}={asked}" for g, (asked, _) in differing.items()),
            ckpt_path,
            ", ".join(f"{g}={name}" for g, name in ran.items()),
        )
    return {**{k: v for k, v in command_line.items() if k not in (*MODEL_GROUPS, "head")}, **ran}
