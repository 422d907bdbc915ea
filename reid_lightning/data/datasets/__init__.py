"""Datasets by name: importing this package registers every loader (see base.py for the contract), and
`load_dataset` / `DatasetSpec` build them by name from the filled registry."""

from dataclasses import dataclass, field
from pathlib import Path

from reid_lightning.data.datasets import (  # noqa: F401  (register)
    cuhk03_np,
    dukemtmc,
    folder,
    manifest,
    market1501,
    msmt17,
    synthetic,
)
from reid_lightning.data.datasets.base import DATASETS
from reid_lightning.data.part_maps import default_part_root
from reid_lightning.data.samples import Splits

__all__ = ["DATASETS", "DatasetSpec", "load_dataset"]


def load_dataset(name: str, root: str | Path, **options) -> Splits:
    """Parse (and where needed prepare) dataset `name` under `root`."""
    return DATASETS.build(name, root=root, **options)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset as a run configures it: the key naming it in logs and tables (a conf/data preset's name,
    e.g. `synthetic_b`), its registered loader, root, loader options and part-map folder."""

    key: str
    name: str
    root: str
    options: dict = field(default_factory=dict)
    part_maps: str | None = None  # None = <root>/part_maps

    @property
    def part_root(self) -> Path:
        return Path(self.part_maps) if self.part_maps else default_part_root(self.root)

    def load(self) -> Splits:
        return load_dataset(self.name, self.root, **self.options)
