"""The synthetic Market-format set: generated on first use into `root`, then parsed like Market-1501.

Generation (reid_lightning/data/synthetic/) runs under a file lock beside the folder, so concurrent
processes (srun ranks, parallel sweep jobs) wait for the first one instead of writing the same folder
together; a folder already holding a complete set of the same knobs is reused as it is.
"""

import fcntl
from pathlib import Path

from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.datasets.market1501 import read_market_tree
from reid_lightning.data.records import Splits


@DATASETS.register("synthetic")
def load_synthetic(root: str | Path, **knobs) -> Splits:
    """Generate the set with generator `knobs` (SyntheticConfig) unless `root` holds it, then parse it."""
    from reid_lightning.data.synthetic import SyntheticConfig, ensure_synthetic

    root = Path(root)
    config = SyntheticConfig.from_options(**knobs).resolved()  # the domain fills in style knobs left unset
    root.parent.mkdir(parents=True, exist_ok=True)
    with open(root.parent / f".{root.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ensure_synthetic(root, config)
    return read_market_tree(root, "synthetic", num_cameras=config.num_cameras)  # c1..c9 as generated
