"""Datasets by name: importing this package registers every loader (see base.py for the contract)."""

from reid_lightning.data.datasets import market1501, synthetic  # noqa: F401  (register)
from reid_lightning.data.datasets.base import DATASETS, load_dataset

__all__ = ["DATASETS", "load_dataset"]
