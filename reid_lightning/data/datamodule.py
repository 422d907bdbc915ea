"""The LightningDataModule shared by the synthetic set and the real Market-1501.

Train: the (relabelled) training identities, joint image + part-map augmentation, random or P x K
identity batches. Validation: a thesis-style held-out split of training identities, evaluated as
retrieval (query vs gallery). Test: Market's query vs gallery. Part maps are loaded only when the
model's partition needs them, and are checked up front so a missing map fails before training.
"""

import fcntl
from dataclasses import dataclass, field
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler

from reid_lightning.data import market1501, part_maps
from reid_lightning.data.dataset import ReIDDataset
from reid_lightning.data.sampler import IdentitySampler
from reid_lightning.data.transforms import TransformConfig, build_image_only_transform, build_transform


@dataclass
class DataConfig:
    name: str = "synthetic"  # synthetic | market1501
    root: str = "data/synthetic"
    part_maps: str | None = None  # folder holding <split>/<stem>.png; default <root>/part_maps
    synthetic: dict = field(default_factory=dict)  # SyntheticConfig knobs (synthetic only)
    part_groups: dict | None = None  # part name -> source labels; None keeps the 7-class scheme
    num_source_labels: int = 7
    height: int = 128
    width: int = 64
    batch_size: int = 32
    eval_batch_size: int = 128
    num_workers: int = 2
    sampler: str = "random"  # random | identity (P x K)
    num_instances: int = 4
    val_split: dict | None = None  # kwargs of market1501.split_validation; None disables validation
    augment: dict = field(default_factory=dict)  # TransformConfig overrides (flip, pad, random_erasing)
    seed: int = 0


class ReIDDataModule(pl.LightningDataModule):
    def __init__(self, cfg: DataConfig, load_part_maps: bool = False):
        super().__init__()
        self.cfg, self.load_part_maps = cfg, load_part_maps
        self.transform_cfg = TransformConfig(height=cfg.height, width=cfg.width, **cfg.augment)
        grouping = None
        if cfg.part_groups:
            grouping = part_maps.LabelGrouping.from_groups(dict(cfg.part_groups), cfg.num_source_labels)
        self.label_lookup = None if grouping is None else grouping.lookup
        self.num_part_labels = cfg.num_source_labels if grouping is None else grouping.num_parts
        self.splits = None

    @property
    def needs_own_distributed_sampler(self) -> bool:
        """True when our P x K sampler shards by itself, so Lightning must not wrap it."""
        return self.cfg.sampler == "identity"

    @property
    def root(self) -> Path:
        return Path(self.cfg.root)

    @property
    def part_root(self) -> Path:
        return Path(self.cfg.part_maps) if self.cfg.part_maps else self.root / "part_maps"

    def prepare_data(self) -> None:
        """Generate the synthetic set on first use. A file lock makes concurrent processes (srun ranks,
        parallel sweep jobs) wait for the first one instead of generating the same folder together."""
        if self.cfg.name == "synthetic":
            from reid_lightning.data.synthetic import SyntheticConfig, ensure_synthetic
            self.root.parent.mkdir(parents=True, exist_ok=True)
            with open(self.root.parent / f".{self.root.name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                ensure_synthetic(self.root, SyntheticConfig(**self.cfg.synthetic))

    def setup(self, stage: str | None = None) -> None:
        if self.splits is not None:
            return
        self.splits = market1501.load_market1501(self.root)
        train = self.splits.train
        self.val = None
        if self.cfg.val_split:
            train, val_query, val_gallery = market1501.split_validation(
                train, seed=self.cfg.seed, **self.cfg.val_split)
            self.val = (val_query, val_gallery)
        self.train_samples = train
        self.num_classes = len({s.pid for s in train})
        if self.load_part_maps:
            for split, samples in self._named_lists():
                part_maps.check_part_maps(samples, self.part_root, split)

    def _named_lists(self):
        s = self.splits
        return [(s.train_dir, s.train), (s.query_dir, s.query), (s.gallery_dir, s.gallery)]

    def _dataset(self, samples, split, train, is_query=None, pids=None) -> ReIDDataset:
        maps = None
        if self.load_part_maps:
            maps = [part_maps.part_map_path(self.part_root, split, s) for s in samples]
        return ReIDDataset(
            samples, build_transform(self.transform_cfg, train), build_image_only_transform(self.transform_cfg, train),
            part_map_paths=maps, part_map_loader=self._load_map, is_query=is_query,
            label_lookup=self.label_lookup, pids=pids)

    def _load_map(self, path: Path, size: tuple[int, int]):
        return part_maps.load_part_map(path, size, self.cfg.num_source_labels)

    def _retrieval_dataset(self, query, gallery, split_q, split_g) -> ReIDDataset:
        q = self._dataset(query, split_q, train=False)
        g = self._dataset(gallery, split_g, train=False)
        samples = q.samples + g.samples
        maps = None if q.part_map_paths is None else q.part_map_paths + g.part_map_paths
        return ReIDDataset(samples, q.joint_transform, None, part_map_paths=maps, part_map_loader=self._load_map,
                           is_query=[True] * len(query) + [False] * len(gallery), label_lookup=self.label_lookup)

    def train_dataloader(self) -> DataLoader:
        pid_to_label = {pid: i for i, pid in enumerate(sorted({s.pid for s in self.train_samples}))}
        labels = [pid_to_label[s.pid] for s in self.train_samples]
        dataset = self._dataset(self.train_samples, self.splits.train_dir, train=True, pids=labels)
        sampler = None
        if self.cfg.sampler == "identity":
            sampler = IdentitySampler(labels, self.cfg.batch_size, self.cfg.num_instances, seed=self.cfg.seed)
        elif self.cfg.sampler != "random":
            raise ValueError(f"data.sampler={self.cfg.sampler!r} is unknown; use 'random' or 'identity'")
        return self._loader(dataset, self.cfg.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.val is None:
            return []
        split = self.splits.train_dir
        dataset = self._retrieval_dataset(*self.val, split, split)
        return self._loader(dataset, self.cfg.eval_batch_size, sampler=self._eval_sampler(dataset))

    def test_dataloader(self) -> DataLoader:
        s = self.splits
        dataset = self._retrieval_dataset(s.query, s.gallery, s.query_dir, s.gallery_dir)
        return self._loader(dataset, self.cfg.eval_batch_size, sampler=self._eval_sampler(dataset))

    def _eval_sampler(self, dataset) -> DistributedSampler | None:
        """Lightning's `use_distributed_sampler=False`, needed for the P x K sampler, covers every loader:
        then the evaluation loaders shard themselves, or each rank would rank the whole set. Padded repeats
        are dropped by the metric."""
        distributed = torch.distributed.is_available() and torch.distributed.is_initialized()
        if self.needs_own_distributed_sampler and distributed:
            return DistributedSampler(dataset, shuffle=False)
        return None

    def _loader(self, dataset, batch_size, shuffle=False, sampler=None, drop_last=False) -> DataLoader:
        workers = self.cfg.num_workers
        return DataLoader(dataset, batch_size=min(batch_size, len(dataset)) if not drop_last else batch_size,
                          shuffle=shuffle, sampler=sampler, drop_last=drop_last, num_workers=workers,
                          pin_memory=torch.cuda.is_available(), persistent_workers=workers > 0,
                          worker_init_fn=init_worker)


def init_worker(worker_id: int) -> None:
    """Loader worker start-up: ignore SLURM's job signals, then Lightning's per-worker seeding.

    SLURM signals every process of a job (SIGTERM on requeue or cancel, SIGUSR1/SIGUSR2 before a time
    limit) and forked workers inherit the training process's handlers (Lightning's and submitit's
    checkpoint-and-requeue): a worker would requeue the job too, or die and fail the run. Only the
    training process reacts; its workers end with it.
    """
    import signal

    from lightning_fabric.utilities.seed import pl_worker_init_function

    for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, signal.SIG_IGN)
    pl_worker_init_function(worker_id)
