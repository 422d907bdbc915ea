"""`RetrievalMetric`: the torchmetrics face of `evaluate`, exact under DDP.

Validation/test batches mix query and gallery images; each update stores the embeddings with pid,
camera, is_query and the sample's dataset index. Under DDP, torchmetrics gathers every state from
every process ("cat"); Lightning's DistributedSampler pads the last batches with repeated samples,
so compute() keeps the first occurrence of each dataset index and orders samples by it. Query and
gallery orders, hence tie-breaks, are then those of the dataset whatever the world size, and every
process computes the same numbers as a single process would, bit for bit.

Flip test-time augmentation belongs to the model (average the embeddings of image and mirror image,
see `reid_lightning.models.tta`); L2 normalisation, re-ranking and the visibility-aware distance
(`visibility=True`: each update brings the parts' visibility (B, P), gathered like the embeddings) are
options here.
"""

import warnings
from collections.abc import Sequence

import torch
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from reid_lightning.metrics.distance import DEFAULT_MEMORY_BUDGET, check_metric
from reid_lightning.metrics.functional import distance_source, evaluate
from reid_lightning.metrics.reranking import RERANK_DEFAULTS


class RetrievalMetric(Metric):
    """CMC rank-k, mAP, mINP and Market's MATLAB-style mAP of query vs gallery embeddings."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        distance: str = "euclidean",
        max_rank: int = 50,
        normalize: bool = False,
        rerank: bool = False,
        memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
        ranks: Sequence[int] = (1, 5, 10),
        rerank_k1: int = RERANK_DEFAULTS["k1"],
        rerank_k2: int = RERANK_DEFAULTS["k2"],
        rerank_lambda: float = RERANK_DEFAULTS["lambda_value"],
        visibility: bool = False,
        visibility_threshold: float = 0.5,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.distance = check_metric(distance)
        self.ranks = tuple(int(k) for k in ranks)
        if not self.ranks or min(self.ranks) < 1 or max(self.ranks) > max_rank:
            raise ValueError(f"ranks {ranks} must lie in 1..max_rank={max_rank}; raise max_rank or drop them")
        self.max_rank, self.normalize, self.rerank = max_rank, normalize, rerank
        self.memory_budget_bytes = memory_budget_bytes
        self.rerank_args = {"k1": rerank_k1, "k2": rerank_k2, "lambda_value": rerank_lambda}
        if visibility and rerank:
            raise ValueError(
                "re-ranking with the visibility-aware distance is not supported; set "
                "evaluation.rerank=false or evaluation.visibility=false"
            )
        self.visibility, self.visibility_threshold = visibility, visibility_threshold
        self.state_names = ("embeddings", "pids", "camids", "is_query", "index") + (
            ("visibilities",) if visibility else ()
        )
        for name in self.state_names:
            self.add_state(name, default=[], dist_reduce_fx="cat")

    def update(
        self,
        embeddings: torch.Tensor,
        pids: torch.Tensor,
        camids: torch.Tensor,
        is_query: torch.Tensor,
        index: torch.Tensor,
        visibility: torch.Tensor | None = None,
    ) -> None:
        """embeddings (B, E); pids, camids, is_query, index (B,): index = unique dataset position;
        visibility (B, P) scores or booleans, when the metric was built with visibility=True."""
        if embeddings.ndim != 2:
            raise ValueError(f"embeddings must be (B, E), got shape {tuple(embeddings.shape)}")
        n = len(embeddings)
        if self.visibility and visibility is None:
            raise ValueError("RetrievalMetric(visibility=True) needs each batch's part visibility (B, P)")
        if visibility is not None and not self.visibility:
            raise ValueError(
                "got part visibility, but this RetrievalMetric ranks without it; build it with "
                "visibility=True (evaluation.visibility=true)"
            )
        if visibility is not None:
            if visibility.ndim != 2 or len(visibility) != n:
                raise ValueError(f"visibility has shape {tuple(visibility.shape)}, expected ({n}, P)")
            self.visibilities.append(visibility.detach().float())  # float: any backend gathers it
        for name, value in (("pids", pids), ("camids", camids), ("is_query", is_query), ("index", index)):
            if torch.as_tensor(value).shape != (n,):
                raise ValueError(
                    f"{name} has shape {tuple(torch.as_tensor(value).shape)}, expected ({n},) like the embeddings batch"
                )
        device = embeddings.device
        self.embeddings.append(embeddings.detach())
        self.pids.append(torch.as_tensor(pids, device=device).long())
        self.camids.append(torch.as_tensor(camids, device=device).long())
        self.is_query.append(torch.as_tensor(is_query, device=device).long())  # long: any backend gathers it
        self.index.append(torch.as_tensor(index, device=device).long())

    def samples(self) -> tuple[torch.Tensor, ...]:
        """(embeddings, pids, camids, is_query, index[, visibilities]): one row per sample in dataset order,
        padded repeats dropped. Under DDP call it inside `sync_context()` (on every rank) to see every
        rank's samples."""
        if isinstance(self.index, list) and not self.index:  # after a DDP sync the states are tensors
            raise RuntimeError("RetrievalMetric read before any update(); feed query and gallery batches first")
        index = dim_zero_cat(self.index)
        order = torch.argsort(index, stable=True)
        first = torch.ones_like(order, dtype=torch.bool)
        first[1:] = index[order][1:] != index[order][:-1]  # keep the first copy of each padded repeat
        keep = order[first]
        return tuple(dim_zero_cat(getattr(self, name))[keep] for name in self.state_names)

    def ranked_gallery(self, num_queries: int, top_k: int) -> list[tuple[int, list[int], list[bool]]]:
        """The first `num_queries` queries ranked as compute() ranks them (metric, normalisation,
        re-ranking): (query's dataset index, its top_k gallery dataset indices, same-identity flags),
        same identity in the same camera left out as the protocol does."""
        embeddings, pids, camids, is_query, index, *visibility = self.samples()
        query = is_query.bool()
        if query.all() or not query.any():
            return []
        qf, gf = embeddings[query], embeddings[~query]
        q_visibility, g_visibility = self._split_visibility(visibility, query)
        source = distance_source(
            qf,
            gf,
            self.distance,
            normalize=self.normalize,
            rerank=self.rerank,
            memory_budget_bytes=self.memory_budget_bytes,
            **self.rerank_args,
            visibility=None if q_visibility is None else (q_visibility, g_visibility),
            visibility_threshold=self.visibility_threshold,
        )
        n = min(num_queries, len(qf))
        distances = source.rows(0, n)[0]  # (n, G)
        q_pid, q_cam, q_index = pids[query][:n], camids[query][:n], index[query][:n]
        g_pid, g_cam, g_index = pids[~query], camids[~query], index[~query]
        lists = []
        for i in range(n):
            shown = ~((g_pid == q_pid[i]) & (g_cam == q_cam[i]))  # (G,)
            order = torch.argsort(distances[i].masked_fill(~shown, float("inf")), stable=True)[:top_k]
            order = order[shown[order]]
            lists.append((int(q_index[i]), g_index[order].tolist(), (g_pid[order] == q_pid[i]).tolist()))
        return lists

    @staticmethod
    def _split_visibility(visibility: list[torch.Tensor], query: torch.Tensor) -> tuple:
        """samples()'s optional visibility -> (query (Q, P), gallery (G, P)), or (None, None) without."""
        if not visibility:
            return None, None
        return visibility[0][query], visibility[0][~query]

    def compute(self) -> dict[str, torch.Tensor]:
        embeddings, pids, camids, is_query, _, *visibility = self.samples()
        query = is_query.bool()
        q_visibility, g_visibility = self._split_visibility(visibility, query)
        device = embeddings.device
        if query.all() or not query.any():
            warnings.warn(
                f"RetrievalMetric saw {int(query.sum())} queries and {int((~query).sum())} gallery "
                "items; both are needed (e.g. a sanity check on a few batches): metrics are NaN",
                stacklevel=2,
            )
            result = {
                "cmc": [float("nan")] * self.max_rank,
                "mAP": float("nan"),
                "mINP": float("nan"),
                "mAP_market": float("nan"),
                "num_valid_queries": 0,
            }
        else:
            result = evaluate(
                embeddings[query],
                embeddings[~query],
                pids[query],
                pids[~query],
                camids[query],
                camids[~query],
                distance=self.distance,
                max_rank=self.max_rank,
                normalize=self.normalize,
                rerank=self.rerank,
                memory_budget_bytes=self.memory_budget_bytes,
                **self.rerank_args,
                q_visibility=q_visibility,
                g_visibility=g_visibility,
                visibility_threshold=self.visibility_threshold,
            )
        out = {f"rank{k}": torch.tensor(result["cmc"][k - 1], dtype=torch.float64, device=device) for k in self.ranks}
        for key in ("mAP", "mINP", "mAP_market"):
            out[key] = torch.tensor(result[key], dtype=torch.float64, device=device)
        out["num_valid_queries"] = torch.tensor(result["num_valid_queries"], device=device)
        return out
