"""The LightningDataModule: any registered datasets, by name, as train / validation / test loaders.

Train: the (relabelled) training identities of one dataset, or of several at once (`sources`: their
union with identities kept apart, optionally balanced, multi_source.py), joint image + part-map
augmentation, random or P x K identity batches. Validation: a thesis-style held-out split of training
identities, evaluated as retrieval (query vs gallery). Test: query vs gallery of the dataset, or of each
of several `targets` (one test loader per target, in order; `test_targets` names them). Datasets are
parsed (and, for the synthetic sets, generated) by their registered loaders (reid_lightning/data/datasets/);
this module never tests a dataset's name. Part maps are loaded only where asked, from the partition the
config chose: `load_part_maps` for every split (the forward pass needs them), `load_train_part_maps` for
the training split and the validation split held out of it (the training step needs them: a predicted-mask
partition learns from them and the part-mask pictures compare with them, while query and gallery go
without). Each sample's map comes from its own dataset's part-map folder; they are checked up front so a
missing map fails before training.

Two data paths give the same batches (`cache`). The decode cache (decode_cache.py) decodes each split's
files once into memory-mapped uint8 arrays at the input size; the loaders then read whole batches of them
and `on_after_batch_transfer` augments and normalises each batch on the training device (batch_augment.py).
The per-file path (`cache: false`, for sets larger than memory or disk) decodes and transforms every
sample in the loader workers, per epoch.
"""

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, DistributedSampler, WeightedRandomSampler

from reid_lightning.data import part_maps
from reid_lightning.data.batch_augment import BatchAugment, batch_seed
from reid_lightning.data.dataset import CachedReIDDataset, ReIDDataset, keep_collated
from reid_lightning.data.datasets import DatasetSpec
from reid_lightning.data.decode_cache import decoded_set
from reid_lightning.data.multi_source import source_weights, union_of_train_sets
from reid_lightning.data.sampler import IdentitySampler
from reid_lightning.data.samples import Sample, Splits
from reid_lightning.data.transforms import TransformConfig, build_image_only_transform, build_transform
from reid_lightning.data.validation import split_validation


@dataclass
class DataConfig:
    """The `data=` group, key for key; its one home of defaults is conf/data/ (no second default here)."""

    name: str  # a registered dataset (reid_lightning.data.datasets.DATASETS)
    root: str
    part_maps: str | None  # folder holding <split>/<stem>.png; default <root>/part_maps
    options: dict  # the dataset loader's options (synthetic: generator knobs)
    part_groups: dict | None  # part name -> source labels; None keeps the 7-class scheme
    num_part_labels: int
    height: int
    width: int
    batch_size: int
    eval_batch_size: int
    num_workers: int
    sampler: str  # random | identity (P x K)
    num_instances: int
    balance_sources: bool  # several sources: draw each equally often (smaller ones repeat)
    val_split: dict | None  # kwargs of validation.split_validation; None disables validation
    augment: dict  # TransformConfig overrides (flip, pad, random_erasing)
    seed: int
    verify: bool  # pre-flight: decode every image and part map once before training (data/verify.py)
    cache: bool  # decode once into memory-mapped arrays, augment batches on the device; False: per-file path
    cache_dir: str | None  # where the decode cache lives; None: <first source's root>/../decode_cache


@dataclass(frozen=True)
class TrainingSet:
    """What training sees of a dataset: its train samples (labels 0..num_classes-1) and validation pair."""

    train: list[Sample]
    num_classes: int
    val: tuple[list[Sample], list[Sample]] | None  # (query, gallery) held out of the train folder


class ReIDDataModule(pl.LightningDataModule):
    """`sources` (train on their union) and `targets` (test on each) default to the dataset of `cfg` itself;
    targets default to the sources. Test metrics are named per target (`test_targets`) when `targets` are
    given or there are several; a single default target keeps the plain `test/<metric>` names."""

    def __init__(
        self,
        cfg: DataConfig,
        load_part_maps: bool = False,
        sources: list[DatasetSpec] | None = None,
        targets: list[DatasetSpec] | None = None,
        load_train_part_maps: bool | None = None,
    ):
        super().__init__()
        self.cfg, self.load_part_maps = cfg, load_part_maps
        # the training folders' maps (train + validation): by default as for every split
        self.load_train_part_maps = load_part_maps if load_train_part_maps is None else load_train_part_maps
        own = [DatasetSpec(cfg.name, cfg.name, cfg.root, dict(cfg.options), cfg.part_maps)]
        self.sources = list(sources or own)
        self.targets = list(targets or self.sources)
        self.test_targets = [t.key for t in self.targets] if targets or len(self.targets) > 1 else None
        for role, specs in (("data.sources", self.sources), ("data.targets", self.targets)):
            keys = [spec.key for spec in specs]
            if len(set(keys)) != len(keys):
                raise ValueError(f"{role} names a dataset twice ({', '.join(keys)}); list each once")
        for source in self.sources:
            same_key = [t for t in self.targets if t.key == source.key]
            if same_key and same_key[0] != source:
                raise ValueError(
                    f"data.sources and data.targets both name {source.key}, as different datasets "
                    f"({source} and {same_key[0]}); give one of them another key"
                )
        self._splits: dict[str, Splits] = {}
        self.transform_cfg = TransformConfig(height=cfg.height, width=cfg.width, **cfg.augment)
        grouping = None
        if cfg.part_groups:
            grouping = part_maps.LabelGrouping.from_groups(dict(cfg.part_groups), cfg.num_part_labels)
        self.label_lookup = None if grouping is None else grouping.lookup
        self.num_part_labels = cfg.num_part_labels if grouping is None else grouping.num_parts
        self.augment = BatchAugment(self.transform_cfg)  # the cached path's device-side half
        self._checked = False

    @property
    def needs_own_distributed_sampler(self) -> bool:
        """True when our P x K sampler shards by itself, so Lightning must not wrap it."""
        return self.cfg.sampler == "identity"

    @cached_property
    def _specs(self) -> dict[str, DatasetSpec]:
        """Every source and target by key (a dataset both trained and tested on is parsed once)."""
        return {spec.key: spec for spec in self.sources + self.targets}

    def splits(self, key: str) -> Splits:
        """Train / query / gallery of the source or target `key`, parsed once per process (generated first
        if synthetic)."""
        if key not in self._splits:
            self._splits[key] = self._specs[key].load()
        return self._splits[key]

    @cached_property
    def training(self) -> TrainingSet:
        for source in self.sources:
            if not self.splits(source.key).train:
                raise ValueError(
                    f"data source {source.key} ({source.name} at {source.root}) has no train images; "
                    "train on a dataset with a train split, or list it in data.targets only"
                )
        train, _ = union_of_train_sets([(s.key, self.splits(s.key).train) for s in self.sources])
        val = None
        if self.cfg.val_split:
            train, val_query, val_gallery = split_validation(train, seed=self.cfg.seed, **self.cfg.val_split)
            val = (val_query, val_gallery)
        return TrainingSet(train, len({s.pid for s in train}), val)

    @property
    def num_classes(self) -> int:
        """Identities the classifier learns (the model is built with it)."""
        return self.training.num_classes

    @property
    def val(self) -> tuple[list[Sample], list[Sample]] | None:
        return self.training.val

    def prepare_data(self) -> None:
        """Generate synthetic sets on first use (their loader locks the folder for concurrent processes)."""
        for spec in self._specs.values():
            spec.load()

    def setup(self, stage: str | None = None) -> None:
        if not self._checked:
            for source in self.sources if self.load_train_part_maps else []:
                self._part_map_paths(self.splits(source.key).train, source.key)
            for target in self.targets if self.load_part_maps else []:
                splits = self.splits(target.key)
                self._part_map_paths(splits.query + splits.gallery, target.key)
            self._checked = True

    def _part_map_paths(self, samples: list[Sample], key: str | None = None) -> list[Path]:
        """Each sample's part map, under the part-map folder of its dataset (`key`, or its tag for train)."""
        by_key: dict[str, list[int]] = {}
        for i, sample in enumerate(samples):
            by_key.setdefault(key or sample.dataset, []).append(i)
        paths: list[Path | None] = [None] * len(samples)
        for k, indices in by_key.items():
            spec, root = self._specs[k], self.splits(k).root
            outside = next((samples[i].path for i in indices if not samples[i].path.is_relative_to(root)), None)
            if outside is not None:
                raise ValueError(
                    f"image {outside} of {k} lies outside its dataset root {root}, so it has no part-map "
                    "path (<part maps>/<image path under the root>.png); move the images under the root "
                    "(a CSV manifest's folder) or use a partition without part maps"
                )
            found = part_maps.part_map_paths([samples[i] for i in indices], root, spec.part_root)
            for i, path in zip(indices, part_maps.require_part_maps(found, spec.part_root), strict=True):
                paths[i] = path
        return paths

    @property
    def cache_dir(self) -> Path:
        return Path(self.cfg.cache_dir or Path(self.sources[0].root).parent / "decode_cache")

    def _dataset(
        self, samples, train, with_maps: bool, is_query=None, pids=None, key: str | None = None, role: str = ""
    ) -> ReIDDataset | CachedReIDDataset:
        maps = self._part_map_paths(samples, key) if with_maps else None
        if self.cfg.cache:
            decoded = decoded_set(
                [s.path for s in samples],
                maps,
                self.transform_cfg,
                self.cache_dir,
                self.cfg.num_part_labels,
                description=f"decoding {role}",
            )
            return CachedReIDDataset(samples, decoded, is_query=is_query, label_lookup=self.label_lookup, pids=pids)
        return ReIDDataset(
            samples,
            build_transform(self.transform_cfg, train),
            build_image_only_transform(self.transform_cfg, train),
            part_map_paths=maps,
            part_map_loader=self._load_map,
            is_query=is_query,
            label_lookup=self.label_lookup,
            pids=pids,
        )

    def _load_map(self, path: Path, size: tuple[int, int]):
        return part_maps.load_part_map(path, size, self.cfg.num_part_labels)

    def _retrieval_dataset(
        self, query, gallery, with_maps: bool, key: str | None = None, role: str = ""
    ) -> ReIDDataset | CachedReIDDataset:
        return self._dataset(
            query + gallery,
            train=False,
            with_maps=with_maps,
            is_query=[True] * len(query) + [False] * len(gallery),
            key=key,
            role=role,
        )

    def train_dataloader(self) -> DataLoader:
        train = self.training.train
        pid_to_label = {pid: i for i, pid in enumerate(sorted({s.pid for s in train}))}
        labels = [pid_to_label[s.pid] for s in train]
        dataset = self._dataset(
            train,
            train=True,
            with_maps=self.load_train_part_maps,
            pids=labels,
            role="train " + "+".join(s.key for s in self.sources),
        )
        balance = self.cfg.balance_sources and len(self.sources) > 1
        sampler = None
        if self.cfg.sampler == "identity":
            sampler = IdentitySampler(
                labels,
                self.cfg.batch_size,
                self.cfg.num_instances,
                seed=self.cfg.seed,
                sources=[s.dataset for s in train] if balance else None,
            )
        elif self.cfg.sampler != "random":
            raise ValueError(f"data.sampler={self.cfg.sampler!r} is unknown; use 'random' or 'identity'")
        elif balance:  # as many draws as images, every source equally likely
            generator = torch.Generator().manual_seed(self.cfg.seed)
            sampler = WeightedRandomSampler(source_weights(train), len(train), generator=generator)
        return self._loader(dataset, self.cfg.batch_size, shuffle=sampler is None, sampler=sampler, drop_last=True)

    def val_dataloader(self) -> DataLoader | list:
        if self.val is None:
            return []
        dataset = self._retrieval_dataset(*self.val, with_maps=self.load_train_part_maps, role="validation")
        return self._loader(dataset, self.cfg.eval_batch_size, sampler=self._eval_sampler(dataset))

    def test_dataloader(self) -> DataLoader | list[DataLoader]:
        """One loader per target (query + gallery), in the order of `targets`; a bare loader for one."""
        loaders = []
        for target in self.targets:
            splits = self.splits(target.key)
            dataset = self._retrieval_dataset(
                splits.query,
                splits.gallery,
                with_maps=self.load_part_maps,
                key=target.key,
                role=f"{target.key} query+gallery",
            )
            loaders.append(self._loader(dataset, self.cfg.eval_batch_size, sampler=self._eval_sampler(dataset)))
        return loaders if len(loaders) > 1 else loaders[0]

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
        collate = keep_collated if isinstance(dataset, CachedReIDDataset) else None
        return DataLoader(
            dataset,
            batch_size=min(batch_size, len(dataset)) if not drop_last else batch_size,
            shuffle=shuffle,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=workers > 0,
            worker_init_fn=init_worker,
            collate_fn=collate,
        )

    def on_after_batch_transfer(self, batch: dict, dataloader_idx: int) -> dict:
        """The cached path's batches, now on the device: augmented (training) and normalised. A training
        batch's draws are seeded by data.seed, the batch's number in the run (resumes continue the count)
        and the rank."""
        if not self.cfg.cache or not isinstance(batch, dict):
            return batch  # the per-file path's workers did it all; not a batch of ours (the model summary's example)
        trainer, maps = self.trainer, batch.get("part_map")
        if trainer is not None and trainer.training:
            number = trainer.fit_loop.epoch_loop.batch_progress.total.ready  # batches before this one
            generator = torch.Generator().manual_seed(batch_seed(self.cfg.seed, number, trainer.global_rank))
            images, maps = self.augment(batch["image"], maps, self.augment.draw(len(batch["image"]), generator))
        else:
            images, maps = self.augment.normalize(batch["image"]), None if maps is None else maps.long()
        batch = {**batch, "image": images}
        if maps is not None:
            batch["part_map"] = maps
        return batch


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
