"""k-reciprocal re-ranking: the chunked, sparse implementation against a dense one written here from
the paper and the authors' code (Zhong et al. 2017), on small problems."""

import numpy as np
import pytest
import torch

from reid_lightning.metrics import evaluate
from reid_lightning.metrics.reranking import KReciprocalDistances, smallest_k
from tests.reference_evaluator import evaluate_reference_distances


def dense_rerank(
    qf: np.ndarray, gf: np.ndarray, metric: str, k1: int = 20, k2: int = 6, lam: float = 0.3
) -> np.ndarray:
    """The whole (N, N) matrix, loops over images, as in the authors' numpy code (float64, stable ties)."""
    x = np.concatenate([qf, gf]).astype(np.float64)
    n, nq = len(x), len(qf)
    if metric == "cosine":
        unit = x / np.linalg.norm(x, axis=1, keepdims=True)
        dist = 1 - unit @ unit.T
    else:
        dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    dist = np.transpose(dist / np.max(dist, axis=0))
    rank = np.argsort(dist, axis=1, kind="stable")
    half = int(np.around(k1 / 2))
    V = np.zeros((n, n))
    for i in range(n):
        forward = rank[i, : k1 + 1]
        recip = forward[np.where(rank[forward, : k1 + 1] == i)[0]]
        expansion = recip
        for c in recip:
            c_forward = rank[c, : half + 1]
            c_recip = c_forward[np.where(rank[c_forward, : half + 1] == c)[0]]
            if len(np.intersect1d(c_recip, recip)) > 2 / 3 * len(c_recip):
                expansion = np.append(expansion, c_recip)
        expansion = np.unique(expansion)
        weight = np.exp(-dist[i, expansion])
        V[i, expansion] = weight / weight.sum()
    if k2 != 1:
        V = np.stack([V[rank[i, :k2]].mean(0) for i in range(n)])
    jaccard = np.empty((nq, n))
    for i in range(nq):
        overlap = np.minimum(V[i][None, :], V).sum(1)
        jaccard[i] = 1 - overlap / (2 - overlap)
    return (jaccard * (1 - lam) + dist[:nq] * lam)[:, nq:]


def problem(seed: int, num_query: int = 40, num_gallery: int = 200, dim: int = 16, num_ids: int = 30):
    g = torch.Generator().manual_seed(seed)
    centres = torch.randn(num_ids, dim, generator=g)
    q_pids = torch.randint(1, num_ids, (num_query,), generator=g)
    g_pids = torch.randint(0, num_ids, (num_gallery,), generator=g)
    return {
        "qf": centres[q_pids] + 0.8 * torch.randn(num_query, dim, generator=g),
        "gf": centres[g_pids] + 0.8 * torch.randn(num_gallery, dim, generator=g),
        "q_pids": q_pids,
        "g_pids": g_pids,
        "q_camids": torch.randint(0, 4, (num_query,), generator=g),
        "g_camids": torch.randint(0, 4, (num_gallery,), generator=g),
    }


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("k2", [6, 1])
def test_sparse_chunked_equals_dense(metric, k2):
    p = problem(0)
    expected = dense_rerank(p["qf"].numpy(), p["gf"].numpy(), metric, k2=k2)
    for budget in (1 << 30, 60_000):  # everything at once / a few rows per step
        source = KReciprocalDistances(p["qf"], p["gf"], metric, k2=k2, budget_bytes=budget)
        assert budget > 1e6 or source.rows_per_step <= 10
        ours = torch.cat([source.rows(s, min(s + 7, 40))[0] for s in range(0, 40, 7)])
        np.testing.assert_allclose(ours.numpy(), expected, rtol=0, atol=1e-12)


def test_evaluate_with_rerank_matches_reference_on_dense_distances():
    p = problem(1)
    expected = evaluate_reference_distances(
        dense_rerank(p["qf"].numpy(), p["gf"].numpy(), "euclidean"),
        p["q_pids"],
        p["g_pids"],
        p["q_camids"],
        p["g_camids"],
    )
    for budget in (1 << 30, 2_000_000):
        result = evaluate(**p, rerank=True, memory_budget_bytes=budget)
        assert result["cmc"] == expected["cmc"]
        assert result["mAP"] == pytest.approx(expected["mAP"], abs=1e-9)
    assert result["mAP"] > evaluate(**p)["mAP"]  # re-ranking helps on clustered identities


def test_smallest_k_breaks_ties_by_index():
    dist = torch.tensor([[3.0, 1.0, 1.0, 0.0, 1.0, 2.0]], dtype=torch.float64)
    assert smallest_k(dist, 3).tolist() == [[3, 1, 2]]
    assert smallest_k(dist, 5).tolist() == [[3, 1, 2, 4, 5]]


def test_too_few_images_for_k1():
    with pytest.raises(ValueError, match="lower k1"):
        KReciprocalDistances(torch.randn(3, 4), torch.randn(5, 4), "euclidean", k1=20)
