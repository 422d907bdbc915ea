"""A straightforward per-query float64 numpy evaluator: the ground truth for tests and benchmarks.

Written to be obviously right, not fast: for each query, compute its distance to every gallery item
term by term (`distance.direct_distance`), rank with a stable argsort (ties by gallery index), drop
same-pid-same-camera and pid -1 items, and read CMC, AP, mINP and the Market MATLAB-style AP off the
list of hits. Same protocol and output keys as `reid_lightning.metrics.evaluate` (see scores.py).
"""

from collections.abc import Iterable

import numpy as np

from reid_lightning.metrics.distance import direct_distance


def reference_match_ranks(
    distances: np.ndarray, pid: int, camid: int, g_pids: np.ndarray, g_camids: np.ndarray
) -> np.ndarray:
    """One query's distances (G,) -> 1-based ranks of its valid matches in the list after removals."""
    order = np.argsort(distances, kind="stable")  # (G,)
    removed = ((g_pids[order] == pid) & (g_camids[order] == camid)) | (g_pids[order] == -1)
    hits = g_pids[order][~removed] == pid
    return np.flatnonzero(hits) + 1


def market_ap(ranks: np.ndarray) -> float:
    """Official Market-1501 AP (compute_AP.m): trapezoids between successive precisions at each hit."""
    ap, old_recall, old_precision = 0.0, 0.0, 1.0
    for i, rank in enumerate(ranks, start=1):
        if rank > 1:
            old_precision = (i - 1) / (rank - 1)  # precision at the position just before this hit
        recall, precision = i / len(ranks), i / rank
        ap += (recall - old_recall) * (old_precision + precision) / 2
        old_recall = recall
    return ap


def evaluate_reference(
    qf,
    gf,
    q_pids,
    g_pids,
    q_camids,
    g_camids,
    metric: str = "euclidean",
    max_rank: int = 50,
    return_ranks: bool = False,
) -> dict:
    """Same inputs and outputs as `evaluate`; with return_ranks also per-query match ranks ("ranks")."""
    qf, gf = np.asarray(qf, dtype=np.float64), np.asarray(gf, dtype=np.float64)
    rows = (direct_distance(query[None], gf, metric) for query in qf)
    return evaluate_reference_distances(rows, q_pids, g_pids, q_camids, g_camids, max_rank, return_ranks)


def evaluate_reference_distances(
    distances: Iterable[np.ndarray], q_pids, g_pids, q_camids, g_camids, max_rank: int = 50, return_ranks: bool = False
) -> dict:
    """The protocol on given distance rows (a (Q, G) matrix or one (G,) row per query at a time)."""
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    hits_at, aps, inps, market_aps, all_ranks = np.zeros(max_rank, dtype=np.int64), [], [], [], []
    for q, row in enumerate(distances):
        row = np.asarray(row, dtype=np.float64)
        ranks = reference_match_ranks(row, q_pids[q], q_camids[q], g_pids, g_camids)
        all_ranks.append(ranks)
        if len(ranks) == 0:
            continue
        hits_at[ranks[0] - 1 :] += 1  # empty slice when the first hit is beyond max_rank
        aps.append(np.mean(np.arange(1, len(ranks) + 1) / ranks))
        inps.append(len(ranks) / ranks[-1])
        market_aps.append(market_ap(ranks))
    n = len(aps)
    result = {
        "cmc": [int(c) / n for c in hits_at] if n else [float("nan")] * max_rank,
        "mAP": float(np.mean(aps)) if n else float("nan"),
        "mINP": float(np.mean(inps)) if n else float("nan"),
        "mAP_market": float(np.mean(market_aps)) if n else float("nan"),
        "num_valid_queries": n,
    }
    if return_ranks:
        result["ranks"] = all_ranks
    return result
