"""Checkpoints carry the model config they were trained with; refuse to mix them with another one.

Resuming or evaluating a checkpoint of another model (another backbone, partition, classifier or
number of identities) would otherwise end in a wall of state-dict key errors. We compare the
config stored in the checkpoint with the one asked for and name every difference and the fix.
"""

from pathlib import Path

import torch

MODEL_KEYS = ("backbone", "partition", "classifier", "neck_dim", "num_classes", "num_part_labels")


def load_hparams(ckpt_path: str | Path) -> dict:
    path = Path(ckpt_path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist; pass ckpt_path=<run folder>/checkpoints/last.ckpt")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise RuntimeError(f"cannot read checkpoint {path}: {err}. It is corrupt or not a torch file.") from err
    hparams = checkpoint.get("hyper_parameters")
    if not hparams or "backbone" not in hparams:
        raise ValueError(f"checkpoint {path} was not written by reid-lightning's train.py (no model config in it)")
    return dict(hparams)


def model_config_from_checkpoint(ckpt_path: str | Path) -> dict:
    return {k: v for k, v in load_hparams(ckpt_path).items() if k in MODEL_KEYS}


def _comparable(value):
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k != "pretrained"}  # weights source is not shape
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return value


def check_checkpoint_matches(ckpt_path: str | Path, hparams: dict) -> None:
    """Raise ValueError naming each model setting where the checkpoint and the current config differ."""
    stored = load_hparams(ckpt_path)
    differences = [f"  {key}: checkpoint has {_comparable(stored.get(key))!r}, "
                   f"config has {_comparable(hparams.get(key))!r}"
                   for key in MODEL_KEYS if _comparable(stored.get(key)) != _comparable(hparams.get(key))]
    if differences:
        raise ValueError(f"checkpoint {ckpt_path} was trained with another model config:\n" + "\n".join(differences)
                         + "\nUse the overrides of the run that wrote it (see its .hydra/overrides.yaml), "
                           "or start a fresh run without ckpt_path.")
