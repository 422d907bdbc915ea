"""The metric losses and margin softmaxes against hand-worked values (issue 24).

Each case is small enough to compute on paper: 1-D or 2-D embeddings, 2-3 samples, known angles."""

import math

import pytest
import torch
import torch.nn.functional as F

from reid_lightning.models.classifier import create_classifier
from reid_lightning.models.losses import LOSSES, create_loss
from reid_lightning.models.losses.circle import circle_loss_from_similarities
from reid_lightning.models.losses.margins import apply_margin


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_losses_are_registered_by_name():
    assert set(LOSSES.names()) == {"triplet", "weighted_triplet", "circle", "center"}
    with pytest.raises(ValueError, match="unknown loss.terms='centre'.*close matches: center"):
        create_loss("centre", feature_dim=2, num_classes=2)
    with pytest.raises(ValueError, match="loss.terms.circle needs margin, gamma"):
        create_loss("circle", feature_dim=2, num_classes=2)
    with pytest.raises(ValueError, match="loss.terms=center has no option margin"):
        create_loss("center", feature_dim=2, num_classes=2, lr=0.5, margin=1.0)


def test_soft_margin_triplet_by_hand():
    # x = 0, 1, 3 on a line; ids 0, 0, 1. Anchor 0: d_ap 1, d_an 3; anchor 1: d_ap 1, d_an 2; anchor 2 has no positive.
    x, y = torch.tensor([[0.0], [1.0], [3.0]]), torch.tensor([0, 0, 1])
    soft = create_loss("triplet", 1, 2, margin=0.0)(x, y)
    assert soft.item() == pytest.approx((softplus(1 - 3) + softplus(1 - 2)) / 2, abs=1e-5)
    hard = create_loss("triplet", 1, 2, margin=0.3)(x, y)
    assert hard.item() == pytest.approx((0 + 0) / 2, abs=1e-6)  # both gaps beat the margin
    hard = create_loss("triplet", 1, 2, margin=1.5)(x, y)
    assert hard.item() == pytest.approx((max(0.0, 1 - 3 + 1.5) + (1 - 2 + 1.5)) / 2, abs=1e-5)  # (0 + 0.5) / 2


def test_weighted_regularized_triplet_by_hand():
    # x = 0, 1, 3; ids 0, 0, 1. Distances d01 = 1, d02 = 3, d12 = 2. Positives include the anchor itself (AGW).
    x, y = torch.tensor([[0.0], [1.0], [3.0]], requires_grad=True), torch.tensor([0, 0, 1])
    e = math.e
    far_positive_01 = e / (1 + e)  # softmax over [0, 1] of the distances [0, 1], weighted: e / (1 + e)
    close_negative_2 = (3 + 2 * e) / (1 + e)  # anchor 2: negatives at 3 and 2, weights softmax(-3, -2)
    expected = (softplus(far_positive_01 - 3) + softplus(far_positive_01 - 2) + softplus(0 - close_negative_2)) / 3
    loss = create_loss("weighted_triplet", 1, 2)(x, y)
    assert loss.item() == pytest.approx(expected, abs=1e-5)
    loss.backward()
    assert torch.isfinite(x.grad).all()  # the zero self-distance has a gradient of 0, not NaN


def test_circle_loss_by_hand():
    # x0 = x1 = (1, 0) (same id), x2 = (0, 1): s01 = 1, s02 = s12 = 0. m = 0.25, gamma = 1:
    # a_p = 1.25 - 1 = 0.25, logit_p = -0.25 (1 - 0.75) = -0.0625; a_n = 0.25, logit_n = 0.25 (0 - 0.25) = -0.0625.
    # Anchor 2 has no positive: its term is log(1 + 0) = 0.
    x, y = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0]]), torch.tensor([0, 0, 1])
    loss = create_loss("circle", 2, 2, margin=0.25, gamma=1.0)(x, y)
    assert loss.item() == pytest.approx(2 * softplus(-0.125) / 3, abs=1e-6)


@pytest.mark.parametrize("angle", [0.1, 0.7, 1.3])
def test_circle_loss_decision_boundary_is_its_circle(angle):
    # One positive and one negative pair: on s_n^2 + (s_p - 1)^2 = 2 m^2 the exponent is 0, so the loss is log 2.
    m, radius = 0.25, math.sqrt(2) * 0.25
    s_n, s_p = radius * math.sin(angle) - 0.0, 1 - radius * math.cos(angle)
    sim = torch.tensor([[1.0, s_p, s_n], [s_p, 1.0, s_n], [s_n, s_n, 1.0]])
    per_anchor = [circle_loss_from_similarities(sim, torch.tensor([0, 0, 1]), m, gamma=64.0).item() * 3]
    assert per_anchor[0] == pytest.approx(2 * math.log(2) + softplus(-1e9), abs=1e-4)  # anchors 0, 1 on the circle


def test_circle_loss_optimum_stops_the_gradient():
    # At its optimum s_n = -m a negative pair has weight a_n = 0: no gradient; above it, a positive one.
    m = 0.25
    for s_n, pushes in ((-m, False), (-m + 0.1, True)):
        sim = torch.tensor([[1.0, 0.9, s_n], [0.9, 1.0, 0.0], [s_n, 0.0, 1.0]], requires_grad=True)
        circle_loss_from_similarities(sim, torch.tensor([0, 0, 1]), m, gamma=32.0).backward()
        assert (sim.grad[0, 2].item() > 1e-6) is pushes  # the loss falls as s_n falls
        if not pushes:
            assert sim.grad[0, 2].item() == 0.0


def test_center_loss_value_and_bots_own_step():
    center = create_loss("center", feature_dim=2, num_classes=2, lr=0.5)
    with torch.no_grad():
        center.centers.zero_()
    x, y = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    loss = center(x, y)  # (||x0 - 0||^2 + ||x1 - 0||^2) / 2 = 1
    assert loss.item() == pytest.approx(1.0)
    weight = 5e-4
    (weight * loss).backward()  # the centre's gradient carries the weight: 5e-4 * -(x0 + x1)
    assert torch.allclose(center.centers.grad[0], torch.tensor([-weight, -weight]))
    center.own_step(weight)  # BoT: grad / weight, then SGD lr 0.5 -> c0 = 0 + 0.5 * (1, 1)
    assert torch.allclose(center.centers[0], torch.tensor([0.5, 0.5])) and center.centers.grad is None
    assert torch.equal(center.centers[1], torch.zeros(2))


def known_angle_classifier(name: str, logits: str, margin: float, num_parts: int = 1):
    """Features (1, 0) per part; class weights at 0, 90 and 60 degrees (lengths 2, 3, 1: only angles count)."""
    classifier = create_classifier(
        name, in_features=2, num_parts=num_parts, num_classes=3, bnneck=False, logits=logits, scale=64.0, margin=margin
    )
    weights = torch.tensor([[2.0, 0.0], [0.0, 3.0], [0.5, math.sqrt(3) / 2]])
    with torch.no_grad():
        for fc in [classifier.fc] if name == "shared" else classifier.fcs:
            fc.weight.copy_(weights)
    return classifier, torch.tensor([[[1.0, 0.0]] * num_parts])  # (1, P, 2)


@pytest.mark.parametrize(
    ("logits", "margin", "target_logit"),
    [
        ("cosface", 0.35, 64 * (0.5 - 0.35)),  # s (cos 60 - m)
        ("arcface", 0.5, 64 * math.cos(math.pi / 3 + 0.5)),  # s cos(60 degrees + m)
        ("circle", 0.35, 64 * (1.35 - 0.5) * (0.5 - 0.65)),  # s a_p (cos - (1 - m)), a_p = 1 + m - cos
    ],
)
def test_margin_softmax_logits_at_known_angles(logits, margin, target_logit):
    classifier, parts = known_angle_classifier("shared", logits, margin)
    scaled = classifier(parts)  # s cos: what prediction ranks
    assert torch.allclose(scaled, torch.tensor([[64.0, 0.0, 32.0]]), atol=1e-4)
    target = torch.tensor([2])
    trained = apply_margin(logits, scaled, target, 64.0, margin)
    others = [64.0, 0.0] if logits != "circle" else [64 * 1.35 * (1 - 0.35), 64 * 0.35 * (0 - 0.35)]
    assert torch.allclose(trained, torch.tensor([[*others, target_logit]]), atol=1e-3)
    expected = -torch.log_softmax(torch.tensor([*others, target_logit]), 0)[2]
    assert classifier.loss(scaled, target).item() == pytest.approx(expected.item(), rel=1e-4)


def test_individual_classifier_takes_the_margin_per_part():
    classifier, parts = known_angle_classifier("individual", "cosface", 0.35, num_parts=2)
    logits = classifier(parts)  # (1, 2, 3)
    assert logits.shape == (1, 2, 3) and classifier.fcs[0].bias is None
    expected = -torch.log_softmax(torch.tensor([64.0, 0.0, 64 * 0.15]), 0)[2]  # both parts alike: their mean
    assert classifier.loss(logits, torch.tensor([2])).item() == pytest.approx(expected.item(), rel=1e-4)
    assert classifier.predict(logits).tolist() == [0]  # prediction ignores the margin


def test_margin_options_are_checked():
    with pytest.raises(ValueError, match="unknown classifier.logits='cosfce'.*close matches: cosface"):
        create_classifier("shared", in_features=2, num_parts=1, num_classes=3, logits="cosfce")
    with pytest.raises(ValueError, match="classifier.scale=0"):
        create_classifier("shared", in_features=2, num_parts=1, num_classes=3, logits="arcface", scale=0)
    linear = create_classifier("shared", in_features=2, num_parts=1, num_classes=3, logits="linear")
    x = torch.randn(4, 1, 2)
    assert torch.allclose(linear(x), linear.fc(x.flatten(1)))  # plain logits, bias kept
    assert F.cross_entropy(linear(x), torch.tensor([0, 1, 2, 0])).item() == pytest.approx(
        linear.loss(linear(x), torch.tensor([0, 1, 2, 0])).item()
    )
