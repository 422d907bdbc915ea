"""Train a re-ID model: `python train.py [group=choice ...] [key=value ...]` (Hydra; `-m` for sweeps)."""

import hydra
from omegaconf import DictConfig

from reid_lightning.run.resolvers import register

register()


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from reid_lightning.run.train import train  # imported late so `--help` and config errors are instant

    metrics = train(cfg)
    return metrics.get(cfg.optimized_metric, float("nan")) if cfg.optimized_metric else None


if __name__ == "__main__":
    import json
    import os
    import sys

    from reid_lightning.run.resolvers import SWEEP_ARGV

    os.environ[SWEEP_ARGV] = json.dumps(sys.argv[1:])  # SLURM jobs of a sweep name their folders from it
    main()
