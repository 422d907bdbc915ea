"""A trained model, ready for inference, from a checkpoint that train.py wrote.

The checkpoint is read (and a file of another suite refused with the fix) by models/checkpoint_file.py; the
network is rebuilt from the model config stored in it, without the pretrained-weights source (the
checkpoint holds the weights, and that file need not exist where the model is deployed), and its input
contract comes from the stored preprocessing (preprocessing.py). A distilled run's training-only projections
(`distiller.*`) are left out.
"""

import inspect
from pathlib import Path

import torch

from reid_lightning.deploy.preprocessing import Preprocessing
from reid_lightning.models.checkpoint_file import read_checkpoint


def load_model(path: str | Path, map_location: str | torch.device = "cpu"):
    """(the ReIDModule of a train.py checkpoint in eval mode, its Preprocessing)."""
    checkpoint = read_checkpoint(path)
    model = model_from_checkpoint(checkpoint, path)
    return model.to(map_location).eval(), Preprocessing.from_hparams(dict(checkpoint["hyper_parameters"]))


def model_from_checkpoint(checkpoint: dict, path: str | Path, **replaced):
    """The ReIDModule a loaded checkpoint describes, with its weights (`replaced`: hyper-parameters given anew,
    such as eval.py's evaluation options). Every stored hyper-parameter must be one this version knows, and
    every weight must be there: a silently dropped setting or a missing tensor gives plausible, wrong features."""
    from reid_lightning.models.distillation import without_distiller
    from reid_lightning.models.module import ReIDModule  # Lightning: imported only when a model is loaded

    hparams = {**dict(checkpoint["hyper_parameters"]), **replaced}
    hparams["backbone"] = {**hparams["backbone"], "pretrained": False}
    known = set(inspect.signature(ReIDModule.__init__).parameters) - {"self"}
    unknown = sorted(set(hparams) - known)
    if unknown:
        raise ValueError(
            f"checkpoint {path} holds hyper-parameters this version does not know ({', '.join(unknown)}): "
            "it was written by another reid-lightning version, whose model they may change; use that "
            "version to evaluate or export it"
        )
    try:
        model = ReIDModule(**hparams)
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"checkpoint {path} holds a model config this version cannot build ({err}); "
            "use the reid-lightning version that trained it"
        ) from err
    result = model.load_state_dict(without_distiller(checkpoint["state_dict"]), strict=False)
    if result.missing_keys or result.unexpected_keys:
        missing, unexpected = result.missing_keys, result.unexpected_keys
        raise ValueError(
            f"checkpoint {path} does not fit the model its config describes ({len(missing)} weight(s) "
            f"missing, e.g. {missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]}): it was "
            "edited, damaged or written by another reid-lightning version; use the run's "
            "checkpoints/last.ckpt as train.py wrote it"
        )
    return model
