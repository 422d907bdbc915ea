"""Visibility-aware distances: a hand-worked case (with pairs that share no visible part), the fast
product form against the ground-truth formula whatever the memory budget, the evaluator with visibility
on a hand-worked case and against the per-query reference under any chunking, the RetrievalMetric with
visibility, thresholds and errors. (Under 2 gloo ranks: tests/test_metrics_ddp.py.)"""

import numpy as np
import pytest
import torch

from reid_lightning.metrics import RetrievalMetric, evaluate
from reid_lightning.metrics.visibility import direct_visible_distance, visible_distance_source, visible_parts
from tests.reference_evaluator import evaluate_reference_distances


def hand_case():
    """One query, four gallery items, two parts of one dimension each."""
    q = torch.tensor([[[0.0], [0.0]]])  # (1, P=2, D=1)
    q_vis = torch.tensor([[True, True]])
    g = torch.tensor([[[1.0], [3.0]], [[2.0], [1.0]], [[0.0], [0.0]], [[5.0], [2.0]]])  # (4, 2, 1)
    g_vis = torch.tensor([[True, False], [True, True], [False, False], [False, True]])
    # part distances (1, -), (4, 1), (-, -), (-, 4): means over the parts visible in both
    return q, g, q_vis, g_vis, [1.0, 2.5, float("inf"), 4.0]


def test_hand_worked_case_and_no_common_part():
    q, g, q_vis, g_vis, expected = hand_case()
    source = visible_distance_source(q.flatten(1), g.flatten(1), q_vis, g_vis, "euclidean")
    dist, tol, exact = source.rows(0, 1)
    assert source.last > 4 * 2 and np.log2(source.last).is_integer()  # above twice any finite distance
    assert dist[0].tolist() == [1.0, 2.5, source.last, 4.0]
    assert direct_visible_distance(q.numpy(), g.numpy(), q_vis.numpy(), g_vis.numpy(), "euclidean").tolist() == expected
    assert exact(torch.zeros(4, dtype=torch.long), torch.arange(4)).tolist() == [1.0, 2.5, source.last, 4.0]
    other = torch.tensor([[False, True]])  # sees only part 1: shares nothing with gallery items 0 and 2
    dist = visible_distance_source(q, g, other, g_vis, "euclidean").rows(0, 1)[0]
    assert dist[0, [0, 2]].tolist() == [source.last] * 2 and dist[0, [1, 3]].tolist() == [1.0, 4.0]


def test_cosine_is_the_mean_of_one_minus_part_cosines():
    q = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    g = torch.tensor([[[0.0, 3.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 0.0]]])
    vis = torch.ones(1, 2, dtype=torch.bool)
    dist = visible_distance_source(q, g, vis, torch.ones(2, 2, dtype=torch.bool), "cosine").rows(0, 1)[0]
    torch.testing.assert_close(dist[0], torch.tensor([(1 + 0) / 2, ((1 - 2**-0.5) + 1) / 2], dtype=torch.float64))


def random_parts(n: int, parts: int = 3, dim: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, parts, dim, generator=g), torch.rand(n, parts, generator=g)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("budget", [1 << 30, 3000])  # gallery operands kept, or rebuilt in blocks of a few
def test_product_form_is_within_its_bound_and_exact_is_the_formula(metric, budget):
    (qf, q_scores), (gf, g_scores) = random_parts(7, seed=1), random_parts(23, seed=2)
    source = visible_distance_source(qf, gf, q_scores, g_scores, metric, threshold=0.4, memory_budget_bytes=budget)
    assert (source.cached is None) == (budget < 1 << 20)
    dist, tol, exact = source.rows(2, 7)
    rows, cols = (x.flatten() for x in torch.meshgrid(torch.arange(5), torch.arange(23), indexing="ij"))
    truth = direct_visible_distance(
        qf[2:7][rows].numpy(),
        gf[cols].numpy(),
        (q_scores[2:7] >= 0.4)[rows].numpy(),
        (g_scores >= 0.4)[cols].numpy(),
        metric,
        source.last,
    )
    assert np.array_equal(exact(rows, cols).numpy(), truth)
    assert ((dist.flatten() - torch.from_numpy(truth)).abs() <= tol.expand(5, 23).flatten()).all()
    assert (dist == source.last).any()  # the random visibility leaves some pairs without a common part


def test_scores_are_thresholded_and_booleans_pass():
    scores = torch.tensor([[0.2, 0.5, 0.9]])
    assert visible_parts(scores, 0.5).tolist() == [[False, True, True]]
    assert visible_parts(scores > 0.3).tolist() == [[False, True, True]]
    with pytest.raises(ValueError, match="boolean or float"):
        visible_parts(torch.ones(1, 3, dtype=torch.long))


def test_embeddings_that_do_not_split_into_the_parts_are_an_error():
    with pytest.raises(ValueError, match="width 10 do not split into 3 parts"):
        visible_distance_source(torch.randn(2, 10), torch.randn(2, 10), torch.ones(2, 3), torch.ones(2, 3), "euclidean")


# Evaluation with visibility: two queries, five gallery items, two parts of one dimension.
#   q0 pid 1 parts (0, 0) sees both; q1 pid 2 parts (1, 9) sees part 0 only.
#   gallery   parts   visible   pid   q0 distance    q1 distance
#   g0        (1, 1)  both      2     1              0
#   g1        (3, 0)  part 1    1     0              none (last)
#   g2        (0, 0)  none      1     none (last)    none (last)
#   g3        (2, 2)  both      3     4              1
#   g4        (5, 5)  none      4     none (last)    none (last)
# q0: g1* g0 g3 g2* g4 -> match ranks [1, 4] (g2 before g4: tie at last, lower index); q1: g0* -> [1].
VISIBLE_HAND = {
    "qf": torch.tensor([[0.0, 0.0], [1.0, 9.0]]),
    "gf": torch.tensor([[1.0, 1.0], [3.0, 0.0], [0.0, 0.0], [2.0, 2.0], [5.0, 5.0]]),
    "q_pids": torch.tensor([1, 2]),
    "g_pids": torch.tensor([2, 1, 1, 3, 4]),
    "q_camids": torch.tensor([0, 0]),
    "g_camids": torch.ones(5, dtype=torch.long),
    "q_visibility": torch.tensor([[True, True], [True, False]]),
    "g_visibility": torch.tensor([[True, True], [False, True], [False, False], [True, True], [False, False]]),
}


@pytest.mark.parametrize("budget", [1 << 30, 2000])  # one chunk / one query per chunk
def test_evaluate_with_visibility_on_the_hand_worked_case(budget):
    result = evaluate(**VISIBLE_HAND, max_rank=5, memory_budget_bytes=budget)
    assert result["cmc"] == [1.0] * 5 and result["num_valid_queries"] == 2
    assert result["mAP"] == pytest.approx(((1 / 1 + 2 / 4) / 2 + 1) / 2)
    assert result["mINP"] == pytest.approx((2 / 4 + 1) / 2)
    plain = evaluate(**{k: v for k, v in VISIBLE_HAND.items() if "visibility" not in k}, max_rank=5)
    assert plain["mAP"] != result["mAP"]  # g2 = the query's features: first without visibility


def visible_problem(
    seed: int, kind: str, num_query: int = 40, num_gallery: int = 300, parts: int = 4, dim: int = 6, num_ids: int = 20
) -> dict:
    g = torch.Generator().manual_seed(seed)
    q_pids = torch.randint(1, num_ids, (num_query,), generator=g)
    g_pids = torch.randint(0, num_ids, (num_gallery,), generator=g)
    centres = torch.randn(num_ids, parts * dim, generator=g)
    if kind == "clustered":
        qf = centres[q_pids] + 0.7 * torch.randn(num_query, parts * dim, generator=g)
        gf = centres[g_pids] + 0.7 * torch.randn(num_gallery, parts * dim, generator=g)
    else:  # "quantized": exact ties of part distances and of their means
        qf = torch.randint(0, 2, (num_query, parts * dim), generator=g).float()
        gf = torch.randint(0, 2, (num_gallery, parts * dim), generator=g).float()
    q_vis, g_vis = torch.rand(num_query, parts, generator=g), torch.rand(num_gallery, parts, generator=g)
    g_vis[::9] = 0.0  # some gallery items show no part at all
    return {
        "qf": qf,
        "gf": gf,
        "q_pids": q_pids,
        "g_pids": g_pids,
        "q_camids": torch.randint(0, 3, (num_query,), generator=g),
        "g_camids": torch.randint(0, 3, (num_gallery,), generator=g),
        "q_visibility": q_vis,
        "g_visibility": g_vis,
    }


def reference_with_visibility(problem: dict, metric: str, threshold: float = 0.5) -> dict:
    """The per-query numpy reference, on the ground-truth visibility-aware distances (+inf: no common part)."""
    parts = problem["q_visibility"].shape[1]
    q_parts = problem["qf"].view(len(problem["qf"]), parts, -1).numpy()
    g_parts = problem["gf"].view(len(problem["gf"]), parts, -1).numpy()
    q_vis, g_vis = (problem["q_visibility"] >= threshold).numpy(), (problem["g_visibility"] >= threshold).numpy()
    rows = (
        direct_visible_distance(q_parts[i : i + 1], g_parts, q_vis[i : i + 1], g_vis, metric)
        for i in range(len(q_parts))
    )
    return evaluate_reference_distances(
        rows, *(problem[k].numpy() for k in ("q_pids", "g_pids", "q_camids", "g_camids"))
    )


@pytest.mark.parametrize("kind", ["clustered", "quantized"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_evaluate_with_visibility_equals_the_reference_whatever_the_chunking(kind, metric):
    problem = visible_problem(0, kind)
    reference = reference_with_visibility(problem, metric)
    results = [
        evaluate(**problem, distance=metric, memory_budget_bytes=budget) for budget in (1 << 30, 400_000, 60_000)
    ]  # one chunk / several / gallery operands in blocks
    assert results[0] == results[1] == results[2]  # identical under chunking, bit for bit
    assert results[0]["cmc"] == reference["cmc"]
    assert results[0]["num_valid_queries"] == reference["num_valid_queries"]
    for key in ("mAP", "mINP", "mAP_market"):
        assert results[0][key] == pytest.approx(reference[key], abs=1e-9)


def test_retrieval_metric_with_visibility_equals_evaluate():
    problem = visible_problem(1, "clustered", num_query=12, num_gallery=50)
    n = 62
    embeddings = torch.cat([problem["qf"], problem["gf"]])
    visibility = torch.cat([problem["q_visibility"], problem["g_visibility"]])
    pids, camids = (
        torch.cat([problem["q_pids"], problem["g_pids"]]),
        torch.cat([problem["q_camids"], problem["g_camids"]]),
    )
    metric = RetrievalMetric(visibility=True, visibility_threshold=0.5)
    for batch in torch.randperm(n, generator=torch.Generator().manual_seed(0)).split(16):
        metric.update(embeddings[batch], pids[batch], camids[batch], batch < 12, batch, visibility=visibility[batch])
    result = metric.compute()
    expected = evaluate(**problem)
    assert result["mAP"].item() == expected["mAP"] and result["rank1"].item() == expected["cmc"][0]
    ranked = metric.ranked_gallery(num_queries=2, top_k=5)
    assert len(ranked) == 2 and len(ranked[0][1]) == 5
    with pytest.raises(ValueError, match="needs each batch's part visibility"):
        metric.update(embeddings[:2], pids[:2], camids[:2], torch.ones(2), torch.arange(2))
    with pytest.raises(ValueError, match="not supported"):
        RetrievalMetric(visibility=True, rerank=True)
