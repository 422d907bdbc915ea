"""The P x K identity sampler: batch composition, determinism, and disjoint DDP shards."""

from collections import Counter

import pytest

from reid_lightning.data.sampler import IdentitySampler
from tests.conftest import data_config

# 10 identities: sizes 8, 8, 6, 5, 4, 4, 4, 3, 2, 1 images
PIDS = [pid for pid, n in enumerate([8, 8, 6, 5, 4, 4, 4, 3, 2, 1]) for _ in range(n)]


def batches(sampler, batch_size):
    indices = list(sampler)
    assert len(indices) == len(sampler)
    return [indices[i : i + batch_size] for i in range(0, len(indices), batch_size)]


def test_every_batch_holds_p_identities_with_k_images():
    sampler = IdentitySampler(PIDS, batch_size=8, num_instances=4, seed=0)
    assert len(sampler) % 8 == 0 and len(sampler) > 0
    for batch in batches(sampler, 8):
        counts = Counter(PIDS[i] for i in batch)
        assert all(c % 4 == 0 for c in counts.values())  # whole groups of K per identity


def test_same_seed_and_epoch_give_same_order_and_epochs_differ():
    a = IdentitySampler(PIDS, 8, 4, seed=3)
    b = IdentitySampler(PIDS, 8, 4, seed=3)
    assert list(a) == list(b)
    b.set_epoch(1)
    assert list(a) != list(b)


def test_ranks_get_disjoint_images_and_equal_lengths():
    shards = [list(IdentitySampler(PIDS, 4, 2, seed=1, num_replicas=2, rank=r)) for r in range(2)]
    assert len(shards[0]) == len(shards[1]) > 0
    assert not set(shards[0]) & set(shards[1])  # no image seen by both ranks in one epoch


def test_batch_size_must_be_multiple_of_k():
    with pytest.raises(ValueError, match="multiple of data.num_instances"):
        IdentitySampler(PIDS, batch_size=10, num_instances=4)


def test_with_the_identity_sampler_evaluation_loaders_shard_themselves(tmp_path):
    """use_distributed_sampler=False (for P x K) stops Lightning sharding any loader; eval loaders must."""
    import torch.distributed as dist
    from torch.utils.data import DistributedSampler

    from reid_lightning.data.datamodule import ReIDDataModule

    dataset = list(range(10))
    identity = ReIDDataModule(data_config(sampler="identity"))
    assert identity._eval_sampler(dataset) is None  # one process: nothing to shard
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        sampler = identity._eval_sampler(dataset)
        assert isinstance(sampler, DistributedSampler) and not sampler.shuffle and list(sampler) == dataset
        assert ReIDDataModule(data_config(sampler="random"))._eval_sampler(dataset) is None  # Lightning's job
    finally:
        dist.destroy_process_group()
