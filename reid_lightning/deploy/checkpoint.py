"""A trained model from a checkpoint that train.py wrote, or a clear error saying what the file is instead.

Users arrive with all kinds of files: a Lightning checkpoint of this suite (what we take), a plain state
dict, a Torchreid or fast-reid checkpoint, a file that is not a torch file at all. Only the first carries
the model config (backbone, partition, classifier, sizes) needed to rebuild the network, so the others are
recognised by their keys and answered with the fix: train from those weights (backbone.pretrained=<file>)
and use the checkpoint that run writes. Checkpoints are pickles: load only files you trust.
"""

from pathlib import Path

import torch
from torch import nn

from reid_lightning.deploy.preprocessing import Preprocessing

FIX = ("FeatureExtractor, reid-export and reid-embed take the checkpoints train.py writes "
       "(<run folder>/checkpoints/*.ckpt), which carry the model config. To use these weights, train from "
       "them: python train.py backbone=<architecture> backbone.pretrained=<file>, then use that run's "
       "checkpoints/last.ckpt")


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint dict of a train.py checkpoint; any other file raises naming what it is and the fix."""
    path = Path(path).expanduser()
    if not path.is_file():
        hint = " (a folder: pass the .ckpt file inside its checkpoints/)" if path.is_dir() else ""
        raise FileNotFoundError(f"checkpoint {path} does not exist{hint}; pass <run folder>/checkpoints/last.ckpt")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ValueError(f"cannot read checkpoint {path} ({type(err).__name__}: {err}): it is not a PyTorch "
                         f"file, or it is truncated. {FIX}") from err
    kind = foreign_kind(checkpoint)
    if kind is not None:
        raise ValueError(f"checkpoint {path} is {kind}, not a checkpoint of reid-lightning's train.py. {FIX}")
    return checkpoint


def foreign_kind(checkpoint) -> str | None:
    """What a loaded file is when it is not one of our checkpoints (None when it is)."""
    if not isinstance(checkpoint, dict):
        return f"a pickled {type(checkpoint).__name__}, not a checkpoint dict"
    hparams = checkpoint.get("hyper_parameters")
    if isinstance(hparams, dict) and "backbone" in hparams and "state_dict" in checkpoint:
        return None
    keys = ", ".join(sorted(map(str, checkpoint))[:6])
    if hparams is not None:
        return f"a Lightning checkpoint of another model (its hyper-parameters have no backbone; keys: {keys})"
    if "state_dict" in checkpoint and {"epoch", "rank1"} & set(checkpoint):
        return f"a Torchreid checkpoint (keys: {keys})"
    if "model" in checkpoint and {"iteration", "optimizer", "scheduler"} & set(checkpoint):
        return f"a fast-reid / Detectron-style checkpoint (keys: {keys})"
    if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return f"a plain state dict of {len(checkpoint)} tensors, without the model config"
    return f"a dict without the model config (keys: {keys})"


def load_model(path: str | Path, map_location: str | torch.device = "cpu") -> tuple[nn.Module, Preprocessing]:
    """The ReIDModule of a train.py checkpoint in eval mode, and its input contract."""
    from reid_lightning.models.module import ReIDModule  # Lightning: imported only when a model is loaded

    checkpoint = read_checkpoint(path)
    hparams = dict(checkpoint["hyper_parameters"])
    hparams["backbone"] = {**hparams["backbone"], "pretrained": False}  # the checkpoint holds the weights
    try:
        model = ReIDModule(**hparams)
    except (TypeError, ValueError) as err:
        raise ValueError(f"checkpoint {path} holds a model config this version cannot build ({err}); "
                         "use the reid-lightning version that trained it") from err
    result = model.load_state_dict(checkpoint["state_dict"], strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"checkpoint {path} does not fit the model its config describes: missing "
                         f"{result.missing_keys[:5]}, unexpected {result.unexpected_keys[:5]}; the file was "
                         "edited or written by another reid-lightning version")
    return model.to(map_location).eval(), Preprocessing.from_hparams(hparams)
