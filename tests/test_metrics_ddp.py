"""RetrievalMetric under DDP: 2 gloo processes on CPU, shards padded like DistributedSampler's, give
exactly the single-process numbers, with and without the visibility-aware distance."""

import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from reid_lightning.metrics import RetrievalMetric

WORLD = 2


def make_data(num_query: int = 41, num_gallery: int = 160, dim: int = 12) -> dict:
    g = torch.Generator().manual_seed(0)
    pids = torch.cat(
        [torch.randint(1, 15, (num_query,), generator=g), torch.randint(0, 15, (num_gallery,), generator=g)]
    )
    centres = torch.randn(15, dim, generator=g)
    n = num_query + num_gallery
    return {
        "embeddings": centres[pids] + torch.randn(n, dim, generator=g),
        "pids": pids,
        "camids": torch.randint(0, 3, (n,), generator=g),
        "is_query": torch.arange(n) < num_query,
        "index": torch.arange(n),
        "visibility": torch.rand(n, 3, generator=g),
    }  # 3 parts of 4 dimensions


def run_metric(data: dict, order: torch.Tensor, visibility: bool = False) -> dict:
    metric = RetrievalMetric(max_rank=20, ranks=(1, 5, 10), visibility=visibility)
    for batch in order.split(16):
        metric.update(
            *(data[k][batch] for k in ("embeddings", "pids", "camids", "is_query", "index")),
            visibility=data["visibility"][batch] if visibility else None,
        )
    return metric.compute()


def worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        data = make_data()
        n = len(data["index"])  # 201 samples: DistributedSampler pads to 202 by repeating the first
        padded = torch.cat([torch.arange(n), torch.arange(n)[: (-n) % WORLD]])
        shard = padded[rank::WORLD]  # rank 1 gets sample 0 again
        results = {visibility: run_metric(data, shard, visibility) for visibility in (False, True)}
        torch.save(results, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_equal_one_process(tmp_path):
    torch.set_num_threads(1)
    mp.spawn(worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=WORLD, join=True)
    data = make_data()
    for visibility in (False, True):
        single = run_metric(data, torch.arange(len(data["index"])), visibility)
        assert single["num_valid_queries"] > 30 and 0 < single["mAP"] < 1
        for rank in range(WORLD):
            result = torch.load(tmp_path / f"rank{rank}.pt")[visibility]
            assert result.keys() == single.keys()
            for key, value in single.items():
                assert torch.equal(result[key], value), (visibility, rank, key, result[key], value)
    plain, visible = (run_metric(data, torch.arange(len(data["index"])), v)["mAP"] for v in (False, True))
    assert plain != visible  # the visibility changes the ranking
