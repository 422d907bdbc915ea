"""A re-ID image dataset: samples (path, pid, camid) plus optional part maps, as batch dicts.

One class serves training and evaluation. For evaluation, query and gallery are concatenated into one
dataset whose items carry `is_query`, so one loader (and one DDP shard each) feeds the retrieval
metric; `index` is the position in that dataset, which the metric uses to drop the repeats that a
distributed sampler pads with.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset

from reid_lightning.data.records import Sample
from reid_lightning.data.transforms import apply_joint


def read_image(path: Path) -> torch.Tensor:
    """Image file -> uint8 (3,H,W); a corrupt or unreadable file raises naming the file and the fix."""
    try:
        with Image.open(path) as im:
            array = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError) as err:
        raise RuntimeError(f"cannot read image {path}: {err}. The file is corrupt or not an image; "
                           "replace it from the original dataset or delete it.") from err
    return torch.from_numpy(array.copy()).permute(2, 0, 1)  # (3, H, W)


class ReIDDataset(Dataset):
    """Items: image (3,H,W) float, part_map (H,W) int64 (if maps given), pid, camid, index, is_query."""

    def __init__(self, samples: Sequence[Sample], joint_transform, image_transform=None,
                 part_map_paths: Sequence[Path] | None = None, part_map_loader=None,
                 is_query: Sequence[bool] | None = None, label_lookup: np.ndarray | None = None,
                 pids: Sequence[int] | None = None):
        self.samples = list(samples)
        self.joint_transform, self.image_transform = joint_transform, image_transform
        self.part_map_paths = None if part_map_paths is None else list(part_map_paths)
        self.part_map_loader = part_map_loader
        self.is_query = list(is_query) if is_query is not None else [False] * len(self.samples)
        self.label_lookup = label_lookup  # (256,) source label -> part label
        self.pids = list(pids) if pids is not None else [s.pid for s in self.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        image = read_image(sample.path)
        part_map = None
        if self.part_map_paths is not None:
            labels = self.part_map_loader(self.part_map_paths[index], tuple(image.shape[1:]))  # (H, W) uint8
            if self.label_lookup is not None:
                labels = self.label_lookup[labels]
            part_map = torch.from_numpy(np.array(labels, dtype=np.uint8))  # writable copy
        image, part_map = apply_joint(self.joint_transform, self.image_transform, image, part_map)
        item = {"image": image, "pid": self.pids[index], "camid": sample.camid, "index": index,
                "is_query": self.is_query[index]}
        if part_map is not None:
            item["part_map"] = part_map.long()
        return item
