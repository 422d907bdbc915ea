"""Classifiers: shapes behind every partition, per-part independence, losses, max voting, errors."""

import pytest
import torch
import torch.nn.functional as F

from reid_lightning.models.classifier import create_classifier
from reid_lightning.models.partitions import create_partition


@pytest.mark.parametrize("partition_name", ["global", "stripes", "binary_mask", "gaussian_mask"])
@pytest.mark.parametrize(
    "classifier_name, bnneck", [("shared", False), ("individual", False), ("shared", True), ("individual", True)]
)
def test_every_partition_with_every_classifier(partition_name, classifier_name, bnneck):
    partition = create_partition(partition_name)
    parts = partition(torch.randn(4, 6, 8, 4), torch.randint(0, 7, (4, 32, 16)))  # (B, P, C)
    classifier = create_classifier(
        classifier_name, in_features=6, num_parts=partition.num_parts, num_classes=5, bnneck=bnneck
    )
    logits = classifier(parts)
    per_part = (partition.num_parts,) if classifier_name == "individual" else ()
    assert logits.shape == (4, *per_part, 5)
    targets = torch.tensor([0, 1, 4, 4])
    loss = classifier.loss(logits, targets)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(loss)
    assert classifier.predict(logits).shape == (4,)
    assert parts.flatten(1).shape == (4, partition.num_parts * 6)  # the retrieval embedding


def test_individual_parts_have_their_own_classifier():
    classifier = create_classifier("individual", in_features=3, num_parts=4, num_classes=2)
    parts = torch.randn(2, 4, 3)
    changed = parts.clone()
    changed[:, 1] += 1.0
    moved = (classifier(changed) - classifier(parts)).abs().amax(dim=(0, 2))  # (P,)
    assert moved[1] > 0 and torch.equal(moved[[0, 2, 3]], torch.zeros(3))
    assert len(classifier.fcs) == 4 and classifier.fcs[0].weight.shape == (2, 3)


def test_shared_classifier_is_one_linear_layer_on_the_concatenated_parts():
    classifier = create_classifier("shared", in_features=3, num_parts=2, num_classes=4)
    parts = torch.randn(5, 2, 3)
    expected = F.linear(parts.flatten(1), classifier.fc.weight, classifier.fc.bias)
    torch.testing.assert_close(classifier(parts), expected)
    assert classifier.predict(torch.tensor([[0.1, 2.0, 0.3, 0.0]])).tolist() == [1]


def test_individual_loss_is_the_mean_of_the_part_losses_with_optional_smoothing():
    classifier = create_classifier("individual", in_features=3, num_parts=3, num_classes=4)
    logits, targets = torch.randn(5, 3, 4), torch.tensor([0, 1, 2, 3, 0])
    for smoothing in (0.0, 0.1):
        per_part = [F.cross_entropy(logits[:, p], targets, label_smoothing=smoothing) for p in range(3)]
        torch.testing.assert_close(
            classifier.loss(logits, targets, label_smoothing=smoothing), torch.stack(per_part).mean()
        )
    assert classifier.loss(logits, targets, 0.1) != classifier.loss(logits, targets)


def test_max_voting_on_hand_made_logits():
    classifier = create_classifier("individual", in_features=1, num_parts=3, num_classes=4)
    logits = torch.tensor(
        [
            # parts vote 2, 2, 0: the majority (2) wins although part 3 is very sure of 0
            [[0, 0, 5, 0], [0, 1, 2, 0], [9, 0, 0, 0]],
            # parts vote 0, 1, 3: a three-way tie, part 2 is the most confident -> 1
            [[2, 0, 0, 0], [0, 8, 0, 0], [0, 0, 0, 1]],
            # 2 votes for 1 against 1 vote for 3 with a much higher probability: votes decide -> 1
            [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 20]],
        ],
        dtype=torch.float32,
    )
    assert classifier.predict(logits).tolist() == [2, 1, 1]
    # Two parts vote 1 and 0 with mirrored logits: votes and summed probabilities tie exactly -> lowest id
    two_parts = create_classifier("individual", in_features=1, num_parts=2, num_classes=2)
    assert two_parts.predict(torch.tensor([[[0.0, 4.0], [4.0, 0.0]]])).tolist() == [0]


def test_bnneck_normalises_without_shift_before_a_bias_free_layer():
    classifier = create_classifier("shared", in_features=3, num_parts=2, num_classes=4, bnneck=True)
    assert classifier.fc.bias is None and not classifier.bnneck.bias.requires_grad
    normed = classifier.normalized(torch.randn(16, 2, 3) * 5 + 3)
    torch.testing.assert_close(normed.mean(0), torch.zeros(2, 3), atol=1e-5, rtol=0)
    assert isinstance(create_classifier("individual", 3, 2, 4).bnneck, torch.nn.Identity)


def test_bad_inputs_and_names_are_rejected():
    classifier = create_classifier("shared", in_features=3, num_parts=2, num_classes=4)
    with pytest.raises(ValueError, match=r"built for part features \(B, 2, 3\), got \(5, 7, 3\)"):
        classifier(torch.randn(5, 7, 3))
    with pytest.raises(ValueError, match="has 4 classes but a target is 4"):
        classifier.loss(torch.randn(2, 4), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="known: shared, individual"):
        create_classifier("cosine", 3, 2, 4)
    with pytest.raises(ValueError, match="no option label_smoothing"):
        create_classifier("shared", 3, 2, 4, label_smoothing=0.1)
