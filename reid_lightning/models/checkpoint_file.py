"""Checkpoints carry the model config they were trained with; refuse to mix them with another one.

Resuming or evaluating a checkpoint of another model (another backbone, partition, classifier or
number of identities) would otherwise end in a wall of state-dict key errors. We compare the
config stored in the checkpoint with the one asked for and name every difference and the fix. Files of
other suites (plain state dicts, Torchreid, fast-reid) are recognised by their keys and refused with the
way to use their weights (`read_checkpoint`), for train.py's ckpt_path as for the deploy tools.
"""

from pathlib import Path

import torch

MODEL_KEYS = ("backbone", "partition", "classifier", "neck_dim", "num_classes", "num_part_labels")


FOREIGN_FIX = (
    "reid-lightning takes the checkpoints its train.py writes (<run folder>/checkpoints/*.ckpt), which "
    "carry the model config. To use these weights, train from them: python train.py "
    "backbone=<architecture> backbone.pretrained=<file>, then use that run's checkpoints/last.ckpt"
)


def read_checkpoint(ckpt_path: str | Path) -> dict:
    """The dict of a train.py checkpoint; any other file raises naming what it is and the fix.

    Checkpoints are pickles (they hold the config's containers): load only files you trust.
    """
    path = Path(ckpt_path).expanduser()
    if not path.is_file():
        hint = " (a folder: pass the .ckpt file in its checkpoints/)" if path.is_dir() else ""
        raise FileNotFoundError(f"checkpoint {path} does not exist{hint}; pass <run folder>/checkpoints/last.ckpt")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ValueError(
            f"cannot read checkpoint {path} ({type(err).__name__}: {err}): it is corrupt, truncated "
            "or not a PyTorch file"
        ) from err
    kind = foreign_kind(checkpoint)
    if kind is not None:
        raise ValueError(f"checkpoint {path} is {kind}, not a checkpoint of reid-lightning's train.py. {FOREIGN_FIX}")
    upgrade_hparams(checkpoint.get("hyper_parameters"))
    return checkpoint


def upgrade_hparams(hparams: dict | None) -> None:
    """Rename, in place, the settings an older version stored under an old key (evaluation.metric -> distance)."""
    evaluation = (hparams or {}).get("evaluation")
    if isinstance(evaluation, dict) and "metric" in evaluation:
        metric = evaluation.pop("metric")
        if metric is not None:
            evaluation.setdefault("distance", metric)


def foreign_kind(checkpoint) -> str | None:
    """What a loaded file is when it is not one of our checkpoints (None when it is), told by its keys."""
    if not isinstance(checkpoint, dict):
        return f"a pickled {type(checkpoint).__name__}, not a checkpoint dict"
    hparams = checkpoint.get("hyper_parameters")
    if isinstance(hparams, dict) and "backbone" in hparams and "state_dict" in checkpoint:
        return None
    keys = ", ".join(sorted(map(str, checkpoint))[:6])
    if hparams is not None or "pytorch-lightning_version" in checkpoint:
        return f"a Lightning checkpoint of another model (no backbone in its hyper-parameters; keys: {keys})"
    if "state_dict" in checkpoint and "rank1" in checkpoint:
        return f"a Torchreid checkpoint (keys: {keys})"
    if "model" in checkpoint and {"iteration", "optimizer", "scheduler"} & set(checkpoint):
        return f"a fast-reid / Detectron2 checkpoint (keys: {keys})"
    if checkpoint and all(isinstance(v, torch.Tensor) for v in checkpoint.values()):
        return f"a plain state dict ({len(checkpoint)} tensors) without the model config"
    return f"a dict without the model config (keys: {keys})"


def _comparable(value):
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k != "pretrained"}  # weights source is not shape
    if isinstance(value, (list, tuple)):
        return [_comparable(v) for v in value]
    return value


class CheckpointMismatch(ValueError):
    """The checkpoint to resume cannot continue this run (another model, input size, or no training state)."""


def check_checkpoint_matches(ckpt_path: str | Path, hparams: dict) -> None:
    """Raise CheckpointMismatch when the checkpoint cannot continue a run of `hparams`: it holds no training-loop
    state, was trained at another input size, or differs in a model setting (each named). Keys absent from
    `hparams` are not compared (train.py checks the config's model first, the data's numbers once known)."""
    checkpoint = read_checkpoint(ckpt_path)
    if "loops" not in checkpoint or "optimizer_states" not in checkpoint:
        raise CheckpointMismatch(
            f"checkpoint {ckpt_path} holds weights but no training state (epoch and step counters, optimizer: it was "
            "saved with save_weights_only or edited): resuming from it would restart the epoch count and train more "
            "epochs than asked. Resume from a full checkpoint (<run folder>/checkpoints/last.ckpt), or start a new "
            "run in another folder without ckpt_path"
        )
    stored = dict(checkpoint["hyper_parameters"])
    size, asked = stored.get("image_size"), hparams.get("image_size")
    if size is not None and asked is not None and tuple(size) != tuple(asked):
        raise CheckpointMismatch(
            f"checkpoint {ckpt_path} was trained at input size {size[0]}x{size[1]}, this run asks for "
            f"{asked[0]}x{asked[1]} (data.height x data.width): resuming would train the remaining epochs at another "
            f"size and record a mix of both. Rerun with data.height={size[0]} data.width={size[1]}, or start a fresh "
            "run in another folder (hydra.run.dir=...)"
        )
    compared = [key for key in MODEL_KEYS if key in hparams]
    differences = [
        f"  {key}: checkpoint has {_comparable(stored.get(key))!r}, config has {_comparable(hparams.get(key))!r}"
        for key in compared
        if _comparable(stored.get(key)) != _comparable(hparams[key])
    ]
    if differences:
        raise CheckpointMismatch(
            f"checkpoint {ckpt_path} was trained with another model config:\n"
            + "\n".join(differences)
            + "\nUse the overrides of the run that wrote it (see its .hydra/overrides.yaml), "
            "or start a fresh run in another folder (hydra.run.dir=...) without ckpt_path."
        )
