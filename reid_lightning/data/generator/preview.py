"""A preview picture of a synthetic set: train images in a row, each above its colour-coded part map."""

from pathlib import Path

import numpy as np
from PIL import Image

from reid_lightning.data.market_layout import TRAIN_FOLDER
from reid_lightning.data.part_maps import PART_COLOURS, PART_MAP_FOLDER, part_map_path


def save_preview(root: str | Path, out: str | Path, num: int = 24) -> Path:
    """A grid of `num` evenly spaced train images, each above its part map (colours: PART_COLOURS)."""
    root = Path(root)
    paths = sorted((root / TRAIN_FOLDER).glob("*.jpg"))
    paths = paths[:: max(1, len(paths) // num)]
    tiles = []
    for path in paths[:num]:
        image = np.asarray(Image.open(path).convert("RGB"))
        parts = np.asarray(Image.open(part_map_path(root / PART_MAP_FOLDER, TRAIN_FOLDER, path)))
        tiles.append(np.concatenate([image, PART_COLOURS[np.minimum(parts, len(PART_COLOURS) - 1)]], axis=0))
    Image.fromarray(np.concatenate(tiles, axis=1)).save(out)
    return Path(out)
