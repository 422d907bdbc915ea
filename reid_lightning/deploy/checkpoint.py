"""A trained model, ready for inference, from a checkpoint that train.py wrote.

The checkpoint is read (and a file of another suite refused with the fix) by run/checkpoints.py; the
network is rebuilt from the model config stored in it, without the pretrained-weights source (the
checkpoint holds the weights, and that file need not exist where the model is deployed), and its input
contract comes from the stored preprocessing (preprocessing.py). A distilled run's training-only projections
(`distiller.*`) are left out.
"""

from pathlib import Path

import torch

from reid_lightning.deploy.preprocessing import Preprocessing
from reid_lightning.run.checkpoints import read_checkpoint


def load_model(path: str | Path, map_location: str | torch.device = "cpu"):
    """(the ReIDModule of a train.py checkpoint in eval mode, its Preprocessing)."""
    from reid_lightning.models.distillation import without_distiller
    from reid_lightning.models.module import ReIDModule  # Lightning: imported only when a model is loaded

    checkpoint = read_checkpoint(path)
    hparams = dict(checkpoint["hyper_parameters"])
    hparams["backbone"] = {**hparams["backbone"], "pretrained": False}
    try:
        model = ReIDModule(**hparams)
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path} holds a model config this version cannot build ({err}); "
                         "use the reid-lightning version that trained it") from err
    result = model.load_state_dict(without_distiller(checkpoint["state_dict"]), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"checkpoint {path} does not fit the model its config describes (missing "
                         f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}): it was edited "
                         "or written by another reid-lightning version")
    return model.to(map_location).eval(), Preprocessing.from_hparams(hparams)
