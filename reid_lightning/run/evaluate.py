"""What `eval.py` does: test a checkpoint on a dataset's query vs gallery, with the model rebuilt from the
config stored in the checkpoint (the command line chooses data, evaluation options and devices only)."""

import logging
from pathlib import Path

from omegaconf import DictConfig, open_dict

from reid_lightning.models.module import ReIDModule
from reid_lightning.reporting.console import print_results
from reid_lightning.reporting.records import FINISHED, write_record
from reid_lightning.run.build import build_datamodule, build_trainer, plain, run_choices
from reid_lightning.run.checkpoints import model_config_from_checkpoint
from reid_lightning.run.train import metrics_of

log = logging.getLogger(__name__)


def evaluate(cfg: DictConfig) -> dict:
    """Hydra task of eval.py; returns the test metrics."""
    model_cfg = model_config_from_checkpoint(cfg.ckpt_path)
    model = ReIDModule.load_from_checkpoint(cfg.ckpt_path, map_location="cpu", weights_only=False,
                                            backbone={**model_cfg["backbone"], "pretrained": False},
                                            evaluation=plain(cfg.evaluation))
    height, width = model.hparams.image_size
    if (cfg.data.height, cfg.data.width) != (height, width):
        log.warning("Evaluating at the checkpoint's input size %dx%d, not data's %dx%d",
                    height, width, cfg.data.height, cfg.data.width)
        cfg.data.height, cfg.data.width = height, width
    stored = model.hparams.get("preprocessing") or {}  # absent from checkpoints written before it was stored
    augment = plain(cfg.data.augment) if cfg.data.get("augment") else {}
    with open_dict(cfg):  # evaluate with the normalisation and resize filter the model was trained with
        cfg.data.augment = {**augment, **{k: stored[k] for k in ("mean", "std", "interpolation") if k in stored}}
    datamodule = build_datamodule(cfg, load_part_maps=model.requires_part_maps)
    trainer = build_trainer(cfg, datamodule=None)
    results = metrics_of(trainer.test(model, datamodule=datamodule))
    if trainer.is_global_zero:
        print_results(results, title=f"Test results of {cfg.ckpt_path}")
        write_record(Path(cfg.paths.output_dir), FINISHED, run_choices(), metrics=results,
                     checkpoint=str(cfg.ckpt_path))
    return results
