"""A re-ID image dataset: samples (path, pid, camid) plus optional part maps, as batch dicts.

Two ways to the same batches. `ReIDDataset`, the per-file path, decodes every file on every visit and
runs the per-sample transforms (transforms.py) in the loader workers: items are normalised float images.
`CachedReIDDataset` reads the decode cache's arrays (decode_cache.py): items are uint8 images at the input
size, fetched a whole batch at a time (`__getitems__`, collated already), and augmented and normalised
on the training device (batch_augment.py).

Each class serves training and evaluation. For evaluation, query and gallery are concatenated into one
dataset whose items carry `is_query`, so one loader (and one DDP shard each) feeds the retrieval metric;
`index` is the position in that dataset, which the metric uses to drop the repeats that a distributed
sampler pads with.
"""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from reid_lightning.data.decode_cache import DecodedSet
from reid_lightning.data.images import read_image
from reid_lightning.data.samples import Sample
from reid_lightning.data.transforms import apply_joint


class ReIDDataset(Dataset):
    """Items: image (3,H,W) float, part_map (H,W) int64 (if maps given), pid, camid, index, is_query."""

    def __init__(
        self,
        samples: Sequence[Sample],
        joint_transform,
        image_transform=None,
        part_map_paths: Sequence[Path] | None = None,
        part_map_loader=None,
        is_query: Sequence[bool] | None = None,
        label_lookup: np.ndarray | None = None,
        pids: Sequence[int] | None = None,
    ):
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
        item = {
            "image": image,
            "pid": self.pids[index],
            "camid": sample.camid,
            "index": index,
            "is_query": self.is_query[index],
        }
        if part_map is not None:
            item["part_map"] = part_map.long()
        return item


class CachedReIDDataset(Dataset):
    """Items as ReIDDataset's, but image (3,H,W) uint8 and part_map (H,W) uint8, from the decode cache.

    A batch of indices is one fancy-indexed read of the memory maps (`__getitems__`), already collated: give
    the loader `collate_fn=keep_collated`."""

    def __init__(
        self,
        samples: Sequence[Sample],
        decoded: DecodedSet,
        is_query: Sequence[bool] | None = None,
        label_lookup: np.ndarray | None = None,
        pids: Sequence[int] | None = None,
    ):
        if len(decoded) != len(samples):
            raise ValueError(
                f"decode cache {decoded.folder} holds {len(decoded)} images for {len(samples)} samples; "
                "delete the folder to rebuild it"
            )
        self.samples, self.decoded = list(samples), decoded
        self.is_query = torch.tensor(list(is_query) if is_query is not None else [False] * len(self.samples))
        self.label_lookup = None if label_lookup is None else torch.from_numpy(label_lookup)  # (256,)
        self.pids = torch.tensor(list(pids) if pids is not None else [s.pid for s in self.samples])
        self.camids = torch.tensor([s.camid for s in self.samples])

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        return {k: v[0] for k, v in self.__getitems__([index]).items()}

    def __getitems__(self, indices: Sequence[int]) -> dict:
        order = torch.as_tensor(indices, dtype=torch.long)
        batch = {
            "image": torch.from_numpy(self.decoded.images[order.numpy()]),  # (B, 3, H, W) uint8, a copy
            "pid": self.pids[order],
            "camid": self.camids[order],
            "index": order,
            "is_query": self.is_query[order],
        }
        if self.decoded.part_maps is not None:
            maps = torch.from_numpy(self.decoded.part_maps[order.numpy()])  # (B, H, W) source labels
            batch["part_map"] = maps if self.label_lookup is None else self.label_lookup[maps.long()]
        return batch


def keep_collated(batch: dict) -> dict:
    """The loader's collate_fn for CachedReIDDataset: its `__getitems__` returns a collated batch."""
    return batch
