"""`RetrievalMetric`: the torchmetrics face of `evaluate`, exact under DDP.

Validation/test batches mix query and gallery images; each update stores the embeddings with pid,
camera, is_query and the sample's dataset index. Under DDP, torchmetrics gathers every state from
every process ("cat"); Lightning's DistributedSampler pads the last batches with repeated samples,
so compute() keeps the first occurrence of each dataset index and orders samples by it. Query and
gallery orders, hence tie-breaks, are then those of the dataset whatever the world size, and every
process computes the same numbers as a single process would, bit for bit.

Flip test-time augmentation belongs to the model (average the embeddings of image and mirror image,
see `flip_average`); L2 normalisation and re-ranking are options here.
"""

import warnings
from collections.abc import Sequence

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from reid_lightning.metrics.distance import check_metric
from reid_lightning.metrics.functional import DEFAULT_MEMORY_BUDGET, evaluate


class RetrievalMetric(Metric):
    """CMC rank-k, mAP, mINP and Market's MATLAB-style mAP of query vs gallery embeddings."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(self, metric: str = "euclidean", max_rank: int = 50, normalize: bool = False,
                 rerank: bool = False, memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
                 ranks: Sequence[int] = (1, 5, 10), rerank_k1: int = 20, rerank_k2: int = 6,
                 rerank_lambda: float = 0.3, **kwargs):
        super().__init__(**kwargs)
        self.distance = check_metric(metric)
        self.ranks = tuple(int(k) for k in ranks)
        if not self.ranks or min(self.ranks) < 1 or max(self.ranks) > max_rank:
            raise ValueError(f"ranks {ranks} must lie in 1..max_rank={max_rank}; raise max_rank or drop them")
        self.max_rank, self.normalize, self.rerank = max_rank, normalize, rerank
        self.memory_budget_bytes = memory_budget_bytes
        self.rerank_args = {"k1": rerank_k1, "k2": rerank_k2, "lambda_value": rerank_lambda}
        for name in ("embeddings", "pids", "camids", "is_query", "index"):
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(self, embeddings: torch.Tensor, pids: torch.Tensor, camids: torch.Tensor,
               is_query: torch.Tensor, index: torch.Tensor) -> None:
        """embeddings (B, E); pids, camids, is_query, index (B,): index = unique dataset position."""
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be (B, E), got shape {tuple(embeddings.shape)}")
        n = len(embeddings)
        for name, value in (("pids", pids), ("camids", camids), ("is_query", is_query), ("index", index)):
            if torch.as_tensor(value).shape != (n,):
                raise ValueError(f"{name} has shape {tuple(torch.as_tensor(value).shape)}, expected ({n},) "
                                 "like the embeddings batch")
        device = embeddings.device
        self.embeddings.append(embeddings.detach())
        self.pids.append(torch.as_tensor(pids, device=device).long())
        self.camids.append(torch.as_tensor(camids, device=device).long())
        self.is_query.append(torch.as_tensor(is_query, device=device).long())  # long: any backend gathers it
        self.index.append(torch.as_tensor(index, device=device).long())

    def compute(self) -> dict[str, torch.Tensor]:
        if isinstance(self.index, list) and not self.index:  # after a DDP sync the states are tensors
            raise RuntimeError("RetrievalMetric.compute() called before any update(); feed query and "
                               "gallery batches first")
        index = dim_zero_cat(self.index)
        order = torch.argsort(index, stable=True)
        first = torch.ones_like(order, dtype=torch.bool)
        first[1:] = index[order][1:] != index[order][:-1]  # keep the first copy of each padded repeat
        keep = order[first]
        embeddings, pids, camids, is_query = (dim_zero_cat(s)[keep] for s in
                                              (self.embeddings, self.pids, self.camids, self.is_query))
        query = is_query.bool()
        device = embeddings.device
        if query.all() or not query.any():
            warnings.warn(f"RetrievalMetric saw {int(query.sum())} queries and {int((~query).sum())} gallery "
                          "items; both are needed (e.g. a sanity check on a few batches): metrics are NaN",
                          stacklevel=2)
            result = {"cmc": [float("nan")] * self.max_rank, "mAP": float("nan"), "mINP": float("nan"),
                      "mAP_market": float("nan"), "num_valid_queries": 0}
        else:
            result = evaluate(embeddings[query], embeddings[~query], pids[query], pids[~query], camids[query],
                              camids[~query], metric=self.distance, max_rank=self.max_rank,
                              normalize=self.normalize, rerank=self.rerank,
                              memory_budget_bytes=self.memory_budget_bytes, **self.rerank_args)
        out = {f"rank{k}": torch.tensor(result["cmc"][k - 1], dtype=torch.float64, device=device)
               for k in self.ranks}
        for key in ("mAP", "mINP", "mAP_market"):
            out[key] = torch.tensor(result[key], dtype=torch.float64, device=device)
        out["num_valid_queries"] = torch.tensor(result["num_valid_queries"], device=device)
        return out
