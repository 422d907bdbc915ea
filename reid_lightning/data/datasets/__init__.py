"""Datasets by name: importing this package registers every loader (see base.py for the contract)."""

from reid_lightning.data.datasets import (  # noqa: F401  (register)
    cuhk03_np,
    dukemtmc,
    folder,
    manifest,
    market1501,
    msmt17,
    synthetic,
)
from reid_lightning.data.datasets.base import DATASETS, load_dataset

__all__ = ["DATASETS", "load_dataset"]
