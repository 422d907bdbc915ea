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

from pathlib import Path

from reid_lightning.registry import Registry

DATASETS = Registry("dataset", config_key="data.name")


def require_folder(folder: Path, dataset: str, how_to_fix: str) -> Path:
    """`folder` if it is a directory, else FileNotFoundError naming it and the fix."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{dataset} folder {folder} is missing. {how_to_fix}")
    return folder
