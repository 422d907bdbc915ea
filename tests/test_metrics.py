"""evaluate(): hand-worked cases, ties, the Market MATLAB AP, chunking, and a randomized comparison
against the per-query float64 reference; the RetrievalMetric's de-duplication; bad input."""

import math

import numpy as np
import pytest
import torch

from reid_lightning.metrics import RetrievalMetric, evaluate, pairwise_distance
from reid_lightning.metrics.ranking import count_keys
from reid_lightning.models.tta import flip_average
from tests.reference_evaluator import evaluate_reference, market_ap

# Four queries against seven 1-d gallery features (squared distances are exact small numbers).
#   gallery   g0   g1   g2   g3   g4   g5   g6
#   feature    1    2    3    4    5    6    7
#   pid        1    0    1   -1    2    1    3      (0: distractor, -1: junk)
#   camera     0    1    1    2    1    2    0
# q0 pid 1 cam 0 at 0: g0 removed (same pid+cam), g3 junk; list g1 g2* g4 g5* g6 -> ranks [2, 4]
# q1 pid 3 cam 0 at 10: its only gallery image g6 shares its camera -> no valid match
# q2 pid 2 cam 0 at 3.5: g1 and g4* tie at 2.25, lower index first: g2 g1 g4* -> rank [3]
# q3 pid 1 cam 3 at 1.5: g0* and g1 tie at 0.25, g0 first: g0* g1 g2* g4 g5* -> ranks [1, 3, 5]
HAND = {
    "qf": torch.tensor([[0.0], [10.0], [3.5], [1.5]]),
    "gf": torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0], [6.0], [7.0]]),
    "q_pids": torch.tensor([1, 3, 2, 1]),
    "g_pids": torch.tensor([1, 0, 1, -1, 2, 1, 3]),
    "q_camids": torch.tensor([0, 0, 0, 3]),
    "g_camids": torch.tensor([0, 1, 1, 2, 1, 2, 0]),
}
HAND_AP = [1 / 2, 1 / 3, (1 + 2 / 3 + 3 / 5) / 3]  # mean of i / r_i
HAND_INP = [2 / 4, 1 / 3, 3 / 5]
# Market MATLAB AP: mean over hits of ((i-1)/(r_i-1) [1 if r_i = 1] + i/r_i) / 2
HAND_MARKET = [
    ((0 + 1 / 2) / 2 + (1 / 3 + 2 / 4) / 2) / 2,
    (0 + 1 / 3) / 2,
    ((1 + 1) / 2 + (1 / 2 + 2 / 3) / 2 + (2 / 4 + 3 / 5) / 2) / 3,
]


@pytest.mark.parametrize("budget", [1 << 30, 2000])  # one chunk / one query per chunk
def test_hand_worked_case(budget):
    result = evaluate(**HAND, max_rank=5, memory_budget_bytes=budget)
    assert result["num_valid_queries"] == 3
    assert result["cmc"] == [1 / 3, 2 / 3, 1.0, 1.0, 1.0]
    assert result["mAP"] == pytest.approx(sum(HAND_AP) / 3, abs=1e-15)
    assert result["mINP"] == pytest.approx(sum(HAND_INP) / 3, abs=1e-15)
    assert result["mAP_market"] == pytest.approx(sum(HAND_MARKET) / 3, abs=1e-15)
    reference = evaluate_reference(**{k: v.numpy() for k, v in HAND.items()}, max_rank=5, return_ranks=True)
    assert [r.tolist() for r in reference["ranks"]] == [[2, 4], [], [3], [1, 3, 5]]
    assert reference["cmc"] == result["cmc"] and reference["num_valid_queries"] == 3
    for key in ("mAP", "mINP", "mAP_market"):
        assert reference[key] == pytest.approx(result[key], abs=1e-15)


def test_tie_goes_to_the_lower_gallery_index_both_ways():
    # q at 0; a match and a non-match at the same distance (4): whichever has the lower index ranks first.
    for match_first in (True, False):
        g_pids = torch.tensor([7, 0] if match_first else [0, 7])
        result = evaluate(
            torch.zeros(1, 1),
            torch.tensor([[2.0], [-2.0]]),
            torch.tensor([7]),
            g_pids,
            torch.tensor([0]),
            torch.tensor([1, 1]),
            max_rank=2,
        )
        assert result["cmc"] == ([1.0, 1.0] if match_first else [0.0, 1.0])
        assert result["mAP"] == (1.0 if match_first else 0.5)


def test_cosine_ties_and_duplicates_follow_the_reference():
    # (1, 1) and (1, -1) have the same cosine to (1, 0); duplicates of a vector tie exactly.
    qf = torch.tensor([[1.0, 0.0], [0.3, 0.7]])
    gf = torch.tensor([[1.0, 1.0], [0.3, 0.7], [1.0, -1.0], [0.3, 0.7], [0.3, 0.7], [2.0, 0.0]])
    g_pids, g_camids = torch.tensor([4, 5, 3, 0, 5, 9]), torch.tensor([1, 1, 1, 1, 1, 1])
    q_pids, q_camids = torch.tensor([3, 5]), torch.tensor([0, 0])
    result = evaluate(qf, gf, q_pids, g_pids, q_camids, g_camids, distance="cosine", max_rank=6)
    reference = evaluate_reference(
        qf.numpy(),
        gf.numpy(),
        q_pids.numpy(),
        g_pids.numpy(),
        q_camids.numpy(),
        g_camids.numpy(),
        metric="cosine",
        max_rank=6,
        return_ranks=True,
    )
    # q0: g5 (d=0) then g0, g2* tie (index 0 first) -> rank 3; q1: g1*, g3, g4* are identical -> 1, 3
    assert [r.tolist() for r in reference["ranks"]] == [[3], [1, 3]]
    assert result["cmc"] == reference["cmc"] == [0.5, 0.5, 1.0, 1.0, 1.0, 1.0]
    assert result["mAP"] == pytest.approx(reference["mAP"], abs=1e-15)


def test_market_ap_matches_the_matlab_loop():
    def matlab(ranks, length):  # literal port of compute_AP.m's loop over the ranked list (no junk here)
        good = set(ranks)
        ap, old_recall, old_precision, hits = 0.0, 0.0, 1.0, 0
        for j in range(1, length + 1):
            hits += j in good
            recall, precision = hits / len(good), hits / j
            ap += (recall - old_recall) * (old_precision + precision) / 2
            old_recall, old_precision = recall, precision
        return ap

    for ranks in ([1], [2, 4], [1, 3, 5], [3, 4, 9, 10]):
        assert market_ap(np.array(ranks)) == pytest.approx(matlab(ranks, 12), abs=1e-15)


def random_problem(seed, num_query=60, num_gallery=400, dim=24, num_ids=25, kind="clustered"):
    g = torch.Generator().manual_seed(seed)
    q_pids = torch.randint(1, num_ids, (num_query,), generator=g)
    g_pids = torch.randint(0, num_ids, (num_gallery,), generator=g)
    g_pids[torch.rand(num_gallery, generator=g) < 0.05] = -1
    centres = torch.randn(num_ids, dim, generator=g)
    if kind == "clustered":  # easy features: the few items ranked among the matches get sorted
        qf = centres[q_pids] + 0.6 * torch.randn(num_query, dim, generator=g)
        gf = centres[g_pids.clamp(min=0)] + 0.6 * torch.randn(num_gallery, dim, generator=g)
    elif kind == "random":  # untrained-model features: whole rows get sorted
        qf, gf = torch.randn(num_query, dim, generator=g), torch.randn(num_gallery, dim, generator=g)
    else:  # "quantized": many exact and near ties, duplicates
        qf = torch.randint(0, 3, (num_query, dim), generator=g) * 0.1
        gf = torch.randint(0, 3, (num_gallery, dim), generator=g) * 0.1
        gf[1::7] = gf[::7][: len(gf[1::7])]  # exact duplicates
    return {
        "qf": qf,
        "gf": gf,
        "q_pids": q_pids,
        "g_pids": g_pids,
        "q_camids": torch.randint(0, 4, (num_query,), generator=g),
        "g_camids": torch.randint(0, 4, (num_gallery,), generator=g),
    }


@pytest.mark.parametrize("kind", ["clustered", "random", "quantized"])
@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_randomized_against_float64_reference(kind, metric):
    for seed in range(3):
        problem = random_problem(seed, kind=kind)
        reference = evaluate_reference(**{k: v.numpy() for k, v in problem.items()}, metric=metric)
        for budget in (1 << 30, 300_000):  # one chunk / several chunks
            result = evaluate(**problem, distance=metric, memory_budget_bytes=budget)
            assert result["cmc"] == reference["cmc"]
            assert result["num_valid_queries"] == reference["num_valid_queries"]
            for key in ("mAP", "mINP", "mAP_market"):
                assert result[key] == pytest.approx(reference[key], abs=1e-6)


def test_gallery_in_blocks_when_it_does_not_fit_the_budget():
    problem = random_problem(4, num_query=20, kind="quantized")  # float64 gallery operands: 83 KB
    blocked = evaluate(**problem, memory_budget_bytes=100_000)
    assert blocked == evaluate(**problem)


def test_numpy_float64_and_half_inputs():
    problem = random_problem(5)
    as_numpy = evaluate(**{k: v.double().numpy() if v.is_floating_point() else v.numpy() for k, v in problem.items()})
    assert as_numpy == evaluate(**problem)
    half = {**problem, "qf": problem["qf"].half(), "gf": problem["gf"].half()}
    reference = evaluate_reference(
        **{k: v.float().numpy() if v.is_floating_point() else v.numpy() for k, v in half.items()}
    )
    assert evaluate(**half)["cmc"] == reference["cmc"]


def test_normalize_equals_cosine_ranking():
    problem = random_problem(7)
    normalized = evaluate(**problem, normalize=True)
    cosine = evaluate(**problem, distance="cosine")
    assert normalized["cmc"] == cosine["cmc"]
    assert normalized["mAP"] == pytest.approx(cosine["mAP"], abs=1e-9)


def test_no_valid_query_gives_nan_with_a_warning():
    with pytest.warns(UserWarning, match="no query has a valid match"):
        result = evaluate(
            torch.zeros(1, 2),
            torch.ones(2, 2),
            torch.tensor([1]),
            torch.tensor([1, 2]),
            torch.tensor([0]),
            torch.tensor([0, 1]),
            max_rank=2,
        )
    assert result["num_valid_queries"] == 0 and math.isnan(result["mAP"])


def test_no_query_identity_in_the_gallery_gives_nan_not_an_index_error():
    """A short validation can see queries whose pid the gallery lacks altogether (no same-pid column)."""
    with pytest.warns(UserWarning, match="no query has a valid match"):
        result = evaluate(
            torch.zeros(2, 2),
            torch.ones(3, 2),
            torch.tensor([1, 2]),
            torch.tensor([5, 6, 7]),
            torch.tensor([0, 0]),
            torch.tensor([1, 1, 1]),
            max_rank=2,
        )
    assert result["num_valid_queries"] == 0 and math.isnan(result["mAP"])


@pytest.mark.parametrize("rows_sorted_whole", [False, True])
def test_count_keys_matches_brute_force(rows_sorted_whole):
    g = torch.Generator().manual_seed(0)
    dist = torch.rand(30, 500, generator=g, dtype=torch.float64)
    dist[:, ::50] = torch.inf  # removed items
    top = 1.0 if rows_sorted_whole else 0.05
    lower = torch.sort(torch.rand(30, 6, generator=g, dtype=torch.float64) * top, dim=1).values.float()
    upper = torch.nextafter(lower, torch.full_like(lower, torch.inf))
    valid = torch.arange(6)[None, :] < torch.randint(0, 7, (30, 1), generator=g)
    below, at_most = count_keys(dist.clone(), lower, upper, valid)
    keys = dist.float()[:, :, None]
    assert torch.equal(below[valid], (keys < lower[:, None, :]).sum(1)[valid])
    assert torch.equal(at_most[valid], (keys <= upper[:, None, :]).sum(1)[valid])


def test_bad_input_is_named():
    problem = random_problem(0, num_query=4, num_gallery=10)
    with pytest.raises(ValueError, match="unknown distance metric 'l1'"):
        evaluate(**problem, distance="l1")
    with pytest.raises(ValueError, match="g_pids has shape"):
        evaluate(**{**problem, "g_pids": problem["g_pids"][:5]})
    with pytest.raises(ValueError, match="dimension 24 but gallery features 3"):
        evaluate(**{**problem, "gf": problem["gf"][:, :3]})
    bad = problem["qf"].clone()
    bad[2, 0] = float("nan")
    with pytest.raises(ValueError, match=r"qf contains NaN or inf features \(rows \[2\]"):
        evaluate(**{**problem, "qf": bad})
    with pytest.raises(ValueError, match="query pid -1"):
        evaluate(**{**problem, "q_pids": torch.tensor([1, -1, 2, 3])})
    with pytest.raises(ValueError, match="raise memory_budget_bytes"):
        evaluate(**problem, memory_budget_bytes=100)


def test_flip_average_and_pairwise_distance():
    images = torch.arange(12.0).view(1, 1, 3, 4)
    features = flip_average(lambda x: x[..., 0].flatten(1), images)  # first column vs mirrored last column
    assert torch.equal(features, torch.tensor([[1.5, 5.5, 9.5]]))
    dist = pairwise_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0], [1.0, 0.0]]))
    assert torch.equal(dist, torch.tensor([[25.0, 1.0]], dtype=torch.float64))


def test_flip_average_mirrors_part_maps_with_their_images():
    images, maps = torch.arange(4.0).view(1, 1, 1, 4), torch.tensor([[[1, 0, 0, 2]]])
    features = flip_average(lambda x, m: x[..., 0].flatten(1) * m[..., 0], images, maps)  # column 0 x its label
    assert torch.equal(features, torch.tensor([[(0.0 * 1 + 3.0 * 2) / 2]]))
    assert torch.equal(flip_average(lambda x, m: x[..., 0].flatten(1), images, None), torch.tensor([[1.5]]))


def test_retrieval_metric_drops_padded_repeats_and_orders_by_index():
    problem = random_problem(3)
    nq, ng = len(problem["qf"]), len(problem["gf"])
    embeddings = torch.cat([problem["qf"], problem["gf"]])
    pids = torch.cat([problem["q_pids"], problem["g_pids"]])
    camids = torch.cat([problem["q_camids"], problem["g_camids"]])
    is_query = torch.arange(nq + ng) < nq
    order = torch.randperm(nq + ng, generator=torch.Generator().manual_seed(0))
    order = torch.cat([order, order[:7]])  # a sampler's padding repeats samples
    metric = RetrievalMetric(max_rank=20)
    for batch in order.split(32):
        metric.update(embeddings[batch], pids[batch], camids[batch], is_query[batch], batch)
    out = metric.compute()
    expected = evaluate(**problem, max_rank=20)
    assert set(out) == {"rank1", "rank5", "rank10", "mAP", "mINP", "mAP_market", "num_valid_queries"}
    assert out["rank1"].item() == expected["cmc"][0] and out["rank10"].item() == expected["cmc"][9]
    assert out["mAP"].item() == expected["mAP"]
    assert int(out["num_valid_queries"]) == expected["num_valid_queries"]


def test_retrieval_metric_options_and_empty_sides():
    with pytest.raises(ValueError, match="ranks"):
        RetrievalMetric(ranks=(1, 60), max_rank=50)
    metric = RetrievalMetric()
    with pytest.raises(RuntimeError, match="before any update"):
        metric.compute()
    metric.update(
        torch.randn(3, 4), torch.tensor([1, 2, 3]), torch.zeros(3), torch.ones(3, dtype=torch.bool), torch.arange(3)
    )
    with pytest.warns(UserWarning, match="both are needed"):
        assert math.isnan(metric.compute()["mAP"].item())
    with pytest.raises(ValueError, match="camids has shape"):
        metric.update(torch.randn(3, 4), torch.tensor([1, 2, 3]), torch.zeros(2), torch.ones(3), torch.arange(3))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_gpu_equals_cpu():
    problem = random_problem(11, kind="quantized")
    cpu = evaluate(**problem, distance="cosine")
    gpu = evaluate(**{k: v.cuda() for k, v in problem.items()}, distance="cosine")
    assert gpu["cmc"] == cpu["cmc"] and gpu["mAP"] == pytest.approx(cpu["mAP"], abs=1e-12)


@pytest.mark.parametrize("metric, expected", [("euclidean", [2, 1]), ("cosine", [1, 2])])
def test_ranked_gallery_ranks_like_the_scores_and_hides_same_camera_matches(metric, expected):
    """q (pid 1, cam 0) = [1, 0]; gallery: 1 = pid 1 cam 1 at [10, 0] (cosine 0, squared L2 81),
    2 = pid 2 cam 1 at [0.9, 0.5] (cosine 0.126, squared L2 0.26), 3 = pid 1 cam 0 (same camera: not shown)."""
    metric_ = RetrievalMetric(distance=metric, max_rank=2, ranks=(1,))
    metric_.update(
        torch.tensor([[1.0, 0.0], [10.0, 0.0], [0.9, 0.5], [1.0, 0.0]]),
        torch.tensor([1, 1, 2, 1]),
        torch.tensor([0, 1, 1, 0]),
        torch.tensor([1, 0, 0, 0]),
        torch.tensor([0, 1, 2, 3]),
    )
    ((query, gallery, matches),) = metric_.ranked_gallery(num_queries=5, top_k=3)
    assert query == 0 and gallery == expected and matches == [i == 1 for i in expected]
