"""Visibility-aware distances: a hand-worked case (with pairs that share no visible part), the fast
product form against the ground-truth formula whatever the memory budget, thresholds and errors."""

import numpy as np
import pytest
import torch

from reid_lightning.metrics.visibility import direct_visible_distance, visible_distance_source, visible_parts


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
    assert direct_visible_distance(q.numpy(), g.numpy(), q_vis.numpy(), g_vis.numpy(), "euclidean").tolist() \
        == expected
    assert exact(torch.zeros(4, dtype=torch.long), torch.arange(4)).tolist() == [1.0, 2.5, source.last, 4.0]
    other = torch.tensor([[False, True]])  # sees only part 1: shares nothing with gallery items 0 and 2
    dist = visible_distance_source(q, g, other, g_vis, "euclidean").rows(0, 1)[0]
    assert dist[0, [0, 2]].tolist() == [source.last] * 2 and dist[0, [1, 3]].tolist() == [1.0, 4.0]


def test_cosine_is_the_mean_of_one_minus_part_cosines():
    q = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])
    g = torch.tensor([[[0.0, 3.0], [0.0, 1.0]], [[1.0, 1.0], [1.0, 0.0]]])
    vis = torch.ones(1, 2, dtype=torch.bool)
    dist = visible_distance_source(q, g, vis, torch.ones(2, 2, dtype=torch.bool), "cosine").rows(0, 1)[0]
    torch.testing.assert_close(dist[0], torch.tensor([(1 + 0) / 2, ((1 - 2 ** -0.5) + 1) / 2],
                                                     dtype=torch.float64))


def random_parts(n: int, parts: int = 3, dim: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, parts, dim, generator=g), torch.rand(n, parts, generator=g)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
@pytest.mark.parametrize("budget", [1 << 30, 3000])  # gallery operands kept, or rebuilt in blocks of a few
def test_product_form_is_within_its_bound_and_exact_is_the_formula(metric, budget):
    (qf, q_scores), (gf, g_scores) = random_parts(7, seed=1), random_parts(23, seed=2)
    source = visible_distance_source(qf, gf, q_scores, g_scores, metric, threshold=0.4,
                                     memory_budget_bytes=budget)
    assert (source.cached is None) == (budget < 1 << 20)
    dist, tol, exact = source.rows(2, 7)
    rows, cols = (x.flatten() for x in torch.meshgrid(torch.arange(5), torch.arange(23), indexing="ij"))
    truth = direct_visible_distance(qf[2:7][rows].numpy(), gf[cols].numpy(), (q_scores[2:7] >= 0.4)[rows].numpy(),
                                    (g_scores >= 0.4)[cols].numpy(), metric, source.last)
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
        visible_distance_source(torch.randn(2, 10), torch.randn(2, 10), torch.ones(2, 3), torch.ones(2, 3),
                                "euclidean")
