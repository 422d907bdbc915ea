"""The dataset family: a registry of loaders, `load(root, **options) -> Splits`, and their shared checks.

Each dataset is one module of this package with one function registered by name:

    @DATASETS.register("market1501")
    def load_market1501(root, **options) -> Splits: ...

The data module loads each dataset of a run through its `DatasetSpec` (key, loader name, root, options,
part maps: the run's own `data=` preset, or each of data.sources / data.targets) with
`load_dataset(name, root, **options)`, and never tests a name.
A loader parses file names exactly as its benchmark defines them (documented split sizes in its
docstring), relabels train pids 0..N-1, tags every sample with its dataset name, and raises a clear
error (file, value, fix) on a malformed name or a missing folder. A loader may prepare its data first
(the synthetic set is generated on first use, under a file lock, so it can be called from every rank).
"""

from dataclasses import dataclass, field
from pathlib import Path

from reid_lightning.data.part_maps import default_part_root
from reid_lightning.data.samples import Splits
from reid_lightning.registry import Registry

DATASETS = Registry("dataset", config_key="data.name")


def load_dataset(name: str, root: str | Path, **options) -> Splits:
    """Parse (and where needed prepare) dataset `name` under `root`."""
    import reid_lightning.data.datasets  # noqa: F401  (fills the registry)

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


def require_folder(folder: Path, dataset: str, how_to_fix: str) -> Path:
    """`folder` if it is a directory, else FileNotFoundError naming it and the fix."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{dataset} folder {folder} is missing. {how_to_fix}")
    return folder
