"""Evaluate a checkpoint on query vs gallery: `python eval.py ckpt_path=... [data=...]` (Hydra)."""

import hydra
from omegaconf import DictConfig

from reid_lightning.run.resolvers import register

register()


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> dict:
    from reid_lightning.run.evaluate import evaluate

    return evaluate(cfg)


if __name__ == "__main__":
    main()
