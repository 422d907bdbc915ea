"""The synthetic Market-format set: generated on first use into `root`, then parsed like Market-1501.

Generation (reid_lightning/data/generator/) runs under a file lock beside the folder, so concurrent
processes (srun ranks, parallel sweep jobs) wait for the first one instead of writing the same folder
together; a folder already holding a complete set of the same knobs is reused as it is.

The lock covers generation only, not the hours a job then reads the set. So a training job never replaces a
complete set made with other knobs (or by another generator version): another job may be reading it. It
fails instead, naming the differences and the fix (another data.root, or delete the folder to regenerate).
"""

import fcntl
import json
from pathlib import Path

from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.datasets.market1501 import read_market_tree
from reid_lightning.data.samples import Splits


@DATASETS.register("synthetic")
def load_synthetic(root: str | Path, **knobs) -> Splits:
    """Generate the set with generator `knobs` (SyntheticConfig) unless `root` holds it, then parse it."""
    from reid_lightning.data.generator import SyntheticConfig, ensure_synthetic

    root = Path(root)
    config = SyntheticConfig.from_options(**knobs).resolved()  # the domain fills in style knobs left unset
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        refuse_to_replace(root, config)
        ensure_synthetic(root, config)
    return read_market_tree(root, "synthetic", num_cameras=config.num_cameras)  # c1..c9 as generated


def refuse_to_replace(root: Path, config) -> None:
    """FileExistsError when `root` holds a complete synthetic set that `config` would regenerate."""
    from reid_lightning.data.generator.writer import MANIFEST, holds_set, manifest_config

    manifest_path = root / MANIFEST
    if not manifest_path.is_file() or holds_set(root, config):
        return
    try:
        manifest = json.loads(manifest_path.read_text())
    except ValueError:
        return  # a manifest cut short: no complete set there, nobody can be reading it
    if not manifest.get("complete"):
        return  # an interrupted generation: nobody reads an incomplete set, regenerating it is safe
    asked = manifest_config(config)  # as the manifest records a config
    made = manifest.get("config") or {}
    differences = [
        f"{k}: the set has {made[k]!r}, this run asks {asked[k]!r}"
        for k in sorted(made)
        if k in asked and made[k] != asked[k]
    ]
    if not differences:
        differences = [
            f"generator version {manifest.get('version')!r} or a knob it did not record (see {manifest_path})"
        ]
    raise FileExistsError(
        f"data.root={root} holds a complete synthetic set made with other settings:\n  "
        + "\n  ".join(differences)
        + f"\nIt is not regenerated, as another job may be reading it. Choose another folder for these settings "
        f"(e.g. data.root={root}_2), or delete {root} to regenerate it."
    )
