"""Query-to-gallery distances: a fast matrix-product form for ranking, a direct form as ground truth.

Two metrics. "euclidean" is the squared L2 distance of the features as given; "cosine" is 1 - cosine
similarity, with each feature first divided by max(norm, 1e-12) (so a zero vector is at distance 1
from everything, as with `torch.nn.functional.normalize`).

Ranking a chunk of queries against the gallery takes one float64 matrix product of augmented operands,
`query_operands(q) @ gallery_operands(g).T`:
    euclidean: [-2q, |q|^2, 1] . [g, 1, |g|^2] = |q|^2 + |g|^2 - 2 q.g
    cosine:    [-q/|q|, 1]     . [g/|g|, 1]    = 1 - cos(q, g)
Its rounding error is bounded (`error_bound`); the rare gallery items whose order against a true match
lies within that bound are re-decided with `direct_distance`: sum((q - g)^2) (or 1 - sum(q_n * g_n))
in float64 numpy, the very formula of the per-query reference (reference.py). Ties, including
identical vectors and equal cosines of different vectors, thus come out as in the reference and the
tie-break by gallery index decides. `FeatureDistances` serves these pieces chunk by chunk.

Why float64: Market-1501's product (3,368 x 15,913 x 514) took 1.33 s on one core here against 0.98 s
in float32, but float32's rigorous error bound (~2.5e-4 of the squared norms) leaves ~9 gallery items
per query to re-decide against none in float64 (and TF32/bf16 settings would widen it further).
"""

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

DEFAULT_MEMORY_BUDGET = 1 << 30  # 1 GiB: the evaluator's peak memory unless evaluation.memory_budget_bytes says

METRICS = ("euclidean", "cosine")
NORM_EPS = 1e-12
PAIRS_PER_BATCH = 1 << 11  # direct distances are computed this many pairs at a time (bounded memory)
OPERAND_BLOCK_ROWS = 1 << 14  # features are cast to float64 this many rows at a time


def check_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(
            f"unknown distance metric {metric!r}; use one of {METRICS} "
            "(euclidean = squared L2 on the features as given, cosine = 1 - cosine similarity)"
        )
    return metric


def query_operands(queries: torch.Tensor, metric: str) -> torch.Tensor:
    """(B, D) features -> (B, D+k) float64 left operand of the distance product."""
    return _operands(queries, metric, left=True)


def gallery_operands(gallery: torch.Tensor, metric: str) -> torch.Tensor:
    """(G, D) features -> (G, D+k) float64 right operand of the distance product."""
    return _operands(gallery, metric, left=False)


def _operands(x: torch.Tensor, metric: str, left: bool) -> torch.Tensor:
    """Built block by block, so the float64 temporaries stay small next to the (N, D+k) result."""
    extra = 1 if metric == "cosine" else 2
    out = torch.empty(len(x), x.shape[1] + extra, dtype=torch.float64, device=x.device)
    for start in range(0, len(x), OPERAND_BLOCK_ROWS):
        stop = start + OPERAND_BLOCK_ROWS
        block, part = x[start:stop].to(torch.float64), out[start:stop]
        if metric == "cosine":  # left [-q/|q|, 1], right [g/|g|, 1]
            unit = F.normalize(block, dim=1, eps=NORM_EPS)
            part[:, :-1] = -unit if left else unit
            part[:, -1] = 1
        elif left:  # [-2q, |q|^2, 1]
            part[:, :-2] = -2 * block
            part[:, -2] = (block * block).sum(1)
            part[:, -1] = 1
        else:  # [g, 1, |g|^2]
            part[:, :-2] = block
            part[:, -2] = 1
            part[:, -1] = (block * block).sum(1)
    return out


def squared_norms(features: torch.Tensor) -> torch.Tensor:
    """(N, D) -> (N,) float64 squared L2 norms, block by block."""
    return torch.cat(
        [
            (b * b).sum(1)
            for b in (
                features[s : s + OPERAND_BLOCK_ROWS].to(torch.float64)
                for s in range(0, len(features), OPERAND_BLOCK_ROWS)
            )
        ]
    )


def error_bound(query_sq_norms: torch.Tensor, gallery_sq_norm_max: float, dim: int, metric: str) -> torch.Tensor:
    """(B,) -> (B, 1): bound on |product distance - direct distance| for any gallery item.

    A float64 dot product of n terms errs by at most n*u*sum|terms| (u = 2^-53); the product form sums
    dim+2 terms whose magnitudes add up to at most 2(|q|^2 + |g|^2), the direct form errs by a like amount.
    The factor 8 is headroom over the sum of both bounds.
    """
    unit = torch.finfo(torch.float64).eps / 2
    if metric == "euclidean":
        scale = query_sq_norms + gallery_sq_norm_max
    else:
        scale = torch.full_like(query_sq_norms, 2.0)
    return (8 * (dim + 3) * unit * scale).unsqueeze(1)


def direct_distance(queries: np.ndarray, gallery: np.ndarray, metric: str) -> np.ndarray:
    """The ground-truth formula, in float64 numpy: row-paired (N or 1, D), (N, D) -> (N,) distances.

    The reference evaluator ranks with exactly this function, and the fast path re-decides its unsure
    items with it, so both see bit-identical distances (numpy reduces each row the same way).
    """
    queries, gallery = np.asarray(queries, dtype=np.float64), np.asarray(gallery, dtype=np.float64)
    if metric == "cosine":
        return 1.0 - (_normalize_rows(gallery) * _normalize_rows(queries)).sum(1)
    return ((gallery - queries) ** 2).sum(1)


def _normalize_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.sqrt((x * x).sum(1, keepdims=True)), NORM_EPS)


def direct_distance_torch(
    queries: torch.Tensor, rows: torch.Tensor, gallery: torch.Tensor, cols: torch.Tensor, metric: str
) -> torch.Tensor:
    """`direct_distance` of the pairs (queries[rows], gallery[cols]), tensors on any device -> (N,) float64.

    Gathered and computed a few thousand pairs at a time: the temporaries stay small (and in cache)."""
    out = torch.empty(len(rows), dtype=torch.float64)
    for start in range(0, len(rows), PAIRS_PER_BATCH):
        q = queries[rows[start : start + PAIRS_PER_BATCH]].cpu().double().numpy()
        g = gallery[cols[start : start + PAIRS_PER_BATCH]].cpu().double().numpy()
        out[start : start + len(q)] = torch.from_numpy(direct_distance(q, g, metric))
    return out.to(queries.device)


def pairwise_distance(queries: torch.Tensor, gallery: torch.Tensor, metric: str = "euclidean") -> torch.Tensor:
    """(Q, D), (G, D) -> (Q, G) float64 distance matrix by the product form (small problems, e.g. plots)."""
    check_metric(metric)
    return query_operands(queries, metric) @ gallery_operands(gallery, metric).T


class FeatureDistances:
    """Query-chunk x gallery distances by one float64 product, with an error bound and an exact re-check."""

    bytes_per_element = 32  # working memory per (query, gallery) pair of a chunk, see ranking.py

    def __init__(self, qf: torch.Tensor, gf: torch.Tensor, metric: str, budget_bytes: int):
        self.qf, self.gf, self.metric = qf, gf, metric
        dim = gf.shape[1]
        row_bytes = (dim + 2) * 8
        fits = len(gf) * row_bytes <= budget_bytes // 2
        self.block = len(gf) if fits else max(1, budget_bytes // 8 // row_bytes)
        self.cached = gallery_operands(gf, metric) if self.block >= len(gf) else None  # (G, D+2) float64
        self.resident_bytes = len(gf) * row_bytes if self.cached is not None else 2 * self.block * row_bytes
        cosine = metric == "cosine"
        self.gallery_sq_norm_max = (
            1.0 if cosine else float((self.cached[:, -1] if self.cached is not None else squared_norms(gf)).max())
        )

    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor, Callable]:
        """Queries [start, stop) -> distances (B, G) float64, error bound (B, 1), exact(rows, cols)."""
        queries = self.qf[start:stop]
        left = query_operands(queries, self.metric)  # (B, D+2)
        if self.cached is not None:
            dist = left @ self.cached.T
        else:
            dist = torch.empty(len(left), len(self.gf), dtype=torch.float64, device=left.device)
            for s in range(0, len(self.gf), self.block):
                dist[:, s : s + self.block] = left @ gallery_operands(self.gf[s : s + self.block], self.metric).T
        tol = error_bound(squared_norms(queries), self.gallery_sq_norm_max, self.gf.shape[1], self.metric)

        def exact(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
            return direct_distance_torch(queries, rows, self.gf, cols, self.metric)

        return dist, tol, exact
