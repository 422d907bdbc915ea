"""`evaluate`: the Market-1501 retrieval protocol on query and gallery features, exact and memory-bounded.

Protocol (SPEC.md): each query ranks the gallery by distance ascending, ties broken by gallery index
(as numpy's stable argsort does); gallery items with the query's pid AND camera are removed, and so
are gallery items with pid -1 (junk, as in Market's official code; our parser already drops them).
pid 0 (distractors) needs no rule: a query never has pid 0, so they are plain non-matches.
CMC, AP, mINP and the official MATLAB-style AP are averaged over queries with >= 1 valid match.

Queries are processed in chunks sized from `memory_budget_bytes`: the float64 distance chunk and what
is derived from it take about 32 bytes per (query, gallery) pair, the float64 gallery operands
G * (D + 2) * 8 bytes (kept if they fit in half the budget, otherwise rebuilt per block). Inputs are
not counted. Results do not depend on the chunking: ranks are exact integers (see ranking.py).

With visibility (q_visibility, g_visibility: (N, P) booleans or scores), the features are P part features
concatenated and the distance is the mean over the parts visible in both images (visibility.py; 48 bytes
per pair, gallery operands G * P * (D/P + 3) * 8 bytes).
"""

import warnings

import numpy as np
import torch
import torch.nn.functional as F

from reid_lightning.metrics.distance import DEFAULT_MEMORY_BUDGET, FeatureDistances, check_metric
from reid_lightning.metrics.ranking import SamePidIndex, match_ranks, plan_chunk_rows
from reid_lightning.metrics.reranking import RERANK_DEFAULTS, KReciprocalDistances
from reid_lightning.metrics.scores import query_scores, summarize
from reid_lightning.metrics.visibility import VisibleDistances, visible_distance_source


def evaluate(
    qf,
    gf,
    q_pids,
    g_pids,
    q_camids,
    g_camids,
    distance: str = "euclidean",
    max_rank: int = 50,
    *,
    normalize: bool = False,
    rerank: bool = False,
    k1: int = RERANK_DEFAULTS["k1"],
    k2: int = RERANK_DEFAULTS["k2"],
    lambda_value: float = RERANK_DEFAULTS["lambda_value"],
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
    q_visibility=None,
    g_visibility=None,
    visibility_threshold: float = 0.5,
) -> dict:
    """Rank the gallery for every query and score it (Market-1501 protocol, see the module docstring).

    qf (Q, D), gf (G, D) features; q_pids, q_camids (Q,), g_pids, g_camids (G,) integers; tensors (any
    device, computed there) or numpy arrays. distance: "euclidean" (squared L2 of the features as given)
    or "cosine" (1 - cosine similarity). normalize: L2-normalise features first. rerank: k-reciprocal
    re-ranking (Zhong et al. 2017) with k1, k2, lambda_value. q_visibility (Q, P), g_visibility (G, P):
    rank by the visibility-aware part distance (visibility.py; scores visible at >= visibility_threshold;
    normalize then acts on each part).
    Returns {"cmc": [max_rank floats], "mAP", "mINP", "mAP_market": float, "num_valid_queries": int}.
    """
    metric = check_metric(distance)
    qf, gf = _as_tensor(qf, "qf"), _as_tensor(gf, "gf")
    device = qf.device
    q_pids, g_pids, q_camids, g_camids = (
        _as_tensor(x, name).to(device).long()
        for x, name in [(q_pids, "q_pids"), (g_pids, "g_pids"), (q_camids, "q_camids"), (g_camids, "g_camids")]
    )
    gf = gf.to(device)
    _check_inputs(qf, gf, q_pids, g_pids, q_camids, g_camids, max_rank)
    if (q_visibility is None) != (g_visibility is None):
        raise ValueError("pass the visibility of both query and gallery (q_visibility and g_visibility), or neither")
    visibility = None
    if q_visibility is not None:
        visibility = (
            _as_tensor(q_visibility, "q_visibility").to(device),
            _as_tensor(g_visibility, "g_visibility").to(device),
        )
    source = distance_source(
        qf,
        gf,
        metric,
        normalize=normalize,
        rerank=rerank,
        k1=k1,
        k2=k2,
        lambda_value=lambda_value,
        memory_budget_bytes=memory_budget_bytes,
        visibility=visibility,
        visibility_threshold=visibility_threshold,
    )
    table = SamePidIndex(q_pids, g_pids)
    junk = (g_pids == -1).nonzero().squeeze(1)
    chunk = plan_chunk_rows(
        len(qf), len(gf), table.width, memory_budget_bytes, source.resident_bytes, source.bytes_per_element
    )
    parts = []
    for start in range(0, len(qf), chunk):
        stop = min(start + chunk, len(qf))
        dist, tol, exact = source.rows(start, stop)
        same_pid, same_pid_valid = table.rows(start, stop)
        is_match = same_pid_valid & (g_camids[same_pid] != q_camids[start:stop, None])
        ranks, valid = match_ranks(
            dist, same_pid, same_pid_valid, is_match, junk, tol, exact, max_pairs=max(dist.numel() // 8, 1 << 16)
        )
        del dist
        parts.append(query_scores(ranks, valid))
    scores = {key: torch.cat([p[key] for p in parts]) for key in parts[0]}
    result = summarize(scores, max_rank)
    if result["num_valid_queries"] == 0:
        warnings.warn(
            "no query has a valid match in the gallery (same pid, other camera): metrics are NaN", stacklevel=2
        )
    return result


def distance_source(
    qf: torch.Tensor,
    gf: torch.Tensor,
    metric: str,
    *,
    normalize: bool = False,
    rerank: bool = False,
    k1: int = RERANK_DEFAULTS["k1"],
    k2: int = RERANK_DEFAULTS["k2"],
    lambda_value: float = RERANK_DEFAULTS["lambda_value"],
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
    visibility: tuple[torch.Tensor, torch.Tensor] | None = None,
    visibility_threshold: float = 0.5,
) -> FeatureDistances | KReciprocalDistances | VisibleDistances:
    """The query x gallery distances `evaluate` ranks by, served by query chunk: `.rows(start, stop)`.
    visibility: (query (Q, P), gallery (G, P)) for the visibility-aware part distance."""
    if visibility is not None:
        if rerank:
            raise ValueError(
                "re-ranking with the visibility-aware distance is not supported; set "
                "evaluation.rerank=false or evaluation.visibility=false"
            )
        return visible_distance_source(
            qf,
            gf,
            *visibility,
            metric,
            normalize=normalize,
            threshold=visibility_threshold,
            memory_budget_bytes=memory_budget_bytes,
        )
    if normalize:
        qf, gf = F.normalize(qf, dim=1), F.normalize(gf, dim=1)
    if rerank:
        return KReciprocalDistances(
            qf, gf, metric, k1=k1, k2=k2, lambda_value=lambda_value, budget_bytes=memory_budget_bytes
        )
    return FeatureDistances(qf, gf, metric, memory_budget_bytes)


def _as_tensor(x, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach()
    if isinstance(x, np.ndarray | list | tuple):
        return torch.as_tensor(np.asarray(x))
    raise TypeError(f"{name} must be a torch.Tensor or a numpy array, got {type(x).__name__}")


def _check_inputs(qf, gf, q_pids, g_pids, q_camids, g_camids, max_rank: int) -> None:
    for name, f in (("qf", qf), ("gf", gf)):
        if f.ndim != 2 or len(f) == 0:
            raise ValueError(f"{name} must be a non-empty (N, D) feature matrix, got shape {tuple(f.shape)}")
        if not f.is_floating_point():
            raise ValueError(f"{name} must hold floating-point features, got dtype {f.dtype}")
        bad = torch.cat([(~torch.isfinite(f[s : s + 4096])).any(1) for s in range(0, len(f), 4096)])
        if bad.any():
            rows = bad.nonzero().squeeze(1)[:5].tolist()
            raise ValueError(f"{name} contains NaN or inf features (rows {rows}...); check the model output")
    if qf.shape[1] != gf.shape[1]:
        raise ValueError(f"query features have dimension {qf.shape[1]} but gallery features {gf.shape[1]}")
    for name, labels, n in (
        ("q_pids", q_pids, len(qf)),
        ("q_camids", q_camids, len(qf)),
        ("g_pids", g_pids, len(gf)),
        ("g_camids", g_camids, len(gf)),
    ):
        if labels.shape != (n,):
            raise ValueError(f"{name} has shape {tuple(labels.shape)}, expected ({n},) like its features")
    if (q_pids == -1).any():
        positions = (q_pids == -1).nonzero().squeeze(1)[:5].tolist()
        raise ValueError(
            f"query pid -1 (junk) at query positions {positions}"
            "; junk images must not be queries, drop them from the query set"
        )
    if max_rank < 1:
        raise ValueError(f"max_rank must be >= 1, got {max_rank}")
