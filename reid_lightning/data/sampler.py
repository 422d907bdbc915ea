"""P x K identity sampler: batches of P identities with K images each, rank-aware for DDP.

Metric losses (triplet) need several images per identity in a batch; plain shuffling rarely gives
that. Each epoch we cut every identity's shuffled images into groups of K, shuffle the groups with a
seed shared by all ranks, and deal whole groups to ranks, so under DDP no image is seen by two ranks
in one epoch and every rank yields the same number of batches. Identities with fewer than K images
are topped up by repetition inside their single group (on one rank only). With `sources` (each
sample's dataset, for multi-source training with data.balance_sources) every source gives as many
groups per epoch as the largest one: smaller sources repeat randomly drawn groups (a repeated group
may then land on two ranks). Lightning must not wrap
this sampler in its DistributedSampler (`use_distributed_sampler=False`, which the data module sets
through `ReIDDataModule.needs_own_distributed_sampler`).
"""

from collections import defaultdict
from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class IdentitySampler(Sampler[int]):
    """Yields dataset indices so that consecutive runs of `batch_size` hold P = batch_size / K identities."""

    def __init__(
        self,
        pids: Sequence[int],
        batch_size: int,
        num_instances: int,
        seed: int = 0,
        num_replicas: int | None = None,
        rank: int | None = None,
        sources: Sequence[str] | None = None,
    ):
        if num_instances < 1 or batch_size % num_instances != 0:
            raise ValueError(
                f"data.batch_size={batch_size} must be a multiple of data.num_instances="
                f"{num_instances} (P identities x K images per batch)"
            )
        if num_replicas is None or rank is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            num_replicas = dist.get_world_size() if ready else 1
            rank = dist.get_rank() if ready else 0
        self.batch_size, self.k = batch_size, num_instances
        self.seed, self.epoch = seed, 0
        self.num_replicas, self.rank = num_replicas, rank
        by_pid: dict[int, list[int]] = defaultdict(list)
        for index, pid in enumerate(pids):
            by_pid[int(pid)].append(index)
        self.by_pid = dict(sorted(by_pid.items()))
        self.source_of_pid = None if sources is None else {pid: sources[i[0]] for pid, i in self.by_pid.items()}
        self._length = len(self._indices_for_rank())

    def set_epoch(self, epoch: int) -> None:
        """Called by Lightning's loops each epoch so the shuffling changes while staying rank-consistent."""
        self.epoch = epoch

    def _groups(self) -> list[list[int]]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        by_source: dict[str | None, list[list[int]]] = defaultdict(list)
        for pid, indices in self.by_pid.items():
            order = [indices[i] for i in torch.randperm(len(indices), generator=g).tolist()]
            if len(order) < self.k:  # top up a small identity by repetition, one group only
                order = (order * self.k)[: self.k]
            source = None if self.source_of_pid is None else self.source_of_pid[pid]
            by_source[source] += [order[i : i + self.k] for i in range(0, len(order) - self.k + 1, self.k)]
        if self.source_of_pid is not None:  # balance: smaller sources repeat randomly drawn groups
            most = max(len(groups) for groups in by_source.values())
            for groups in by_source.values():
                groups += [groups[i] for i in torch.randint(len(groups), (most - len(groups),), generator=g).tolist()]
        groups = [group for source_groups in by_source.values() for group in source_groups]
        return [groups[i] for i in torch.randperm(len(groups), generator=g).tolist()]

    def _indices_for_rank(self) -> list[int]:
        groups = self._groups()
        per_batch = self.batch_size // self.k
        usable = len(groups) // (self.num_replicas * per_batch) * self.num_replicas * per_batch
        mine = groups[self.rank : usable : self.num_replicas]  # whole identity groups dealt round-robin
        return [index for group in mine for index in group]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices_for_rank())

    def __len__(self) -> int:
        return self._length
