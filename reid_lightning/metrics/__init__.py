"""Retrieval metrics of person re-ID under the Market-1501 protocol: exact, fast, memory-bounded.

    evaluate(qf, gf, q_pids, g_pids, q_camids, g_camids, distance="euclidean", max_rank=50, ...)
        -> {"cmc": [max_rank floats], "mAP", "mINP", "mAP_market", "num_valid_queries"}
    RetrievalMetric(...)   the torchmetrics Metric used in training (DDP-exact)
    pairwise_distance(q, g, metric)

Modules: distance (float64 product form, error bound, ground-truth formula), ranking (exact ranks of
the matches per query chunk), scores (ranks -> CMC/AP/mINP/Market AP), functional (evaluate, chunking),
reranking (k-reciprocal, sparse), retrieval_metric (torchmetrics, DDP), names (the reported metrics).
The per-query numpy ground truth used by tests and benchmarks is tests/reference_evaluator.py;
benchmark: bench/eval_speed.py.
"""

from reid_lightning.metrics.distance import pairwise_distance
from reid_lightning.metrics.functional import DEFAULT_MEMORY_BUDGET, evaluate
from reid_lightning.metrics.retrieval_metric import RetrievalMetric

__all__ = ["DEFAULT_MEMORY_BUDGET", "RetrievalMetric", "evaluate", "pairwise_distance"]
