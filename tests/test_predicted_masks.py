"""Predicted-mask partition: shapes, pooling, visibility and the mask loss on hand-made maps, no part maps
at evaluation, gradients into the pixel classifier, option errors, the registry, and the LightningModule's
training step adding the weighted mask loss."""

import math

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reid_lightning.models.module import ReIDModule
from reid_lightning.models.partitions import blur_matrix, create_partition
from reid_lightning.models.partitions.predicted import PredictedMasks


def fixed_probabilities(partition: PredictedMasks, logits: list[float]) -> PredictedMasks:
    """Make every cell predict the same logits (the 1x1 layer's weights zero, its bias the logits)."""
    layer = partition.classifier[-1]
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(torch.tensor(logits))
    return partition


def hand_map() -> torch.Tensor:
    """(1, 4, 4) labels for a 2 x 2 feature grid: cell (0,0) is 3/4 label 1 with label 1 at its top-left
    pixel, cell (0,1) all label 1, the bottom cells all background."""
    part_map = torch.zeros(1, 4, 4, dtype=torch.long)
    part_map[0, 0, 0:2] = 1
    part_map[0, 1, 0] = 1
    part_map[0, 0:2, 2:4] = 1
    return part_map


@pytest.mark.parametrize("include_background, parts", [(True, 7), (False, 6)])
@pytest.mark.parametrize("hidden", [0, 8])
def test_shapes_without_part_maps(include_background, parts, hidden):
    partition = PredictedMasks(in_channels=5, include_background=include_background, hidden_channels=hidden).eval()
    feature_map = torch.randn(3, 5, 8, 4)
    out = partition.outputs(feature_map)
    assert out.features.shape == (3, parts, 5) and partition.num_parts == parts
    assert out.visibility.shape == (3, parts) and out.masks.shape == (3, parts, 8, 4)
    assert out.logits.shape == (3, 7, 8, 4)
    assert torch.equal(partition(feature_map), out.features)  # forward: the image's features alone
    assert not partition.requires_part_maps and partition.requires_part_maps_for_training


def test_pooling_is_the_thesis_mean_of_mask_times_features():
    partition = PredictedMasks(in_channels=2, num_part_labels=3)
    feature_map = torch.randn(2, 2, 4, 3)
    out = partition.outputs(feature_map)
    probabilities = out.logits.softmax(1)  # (B, L, h, w)
    expected = (probabilities[:, :, None] * feature_map[:, None]).sum((3, 4)) / 12  # (B, L, C)
    torch.testing.assert_close(out.features, expected)
    weighted = PredictedMasks(in_channels=2, num_part_labels=3, pooling="weighted")
    weighted.load_state_dict(partition.state_dict())
    torch.testing.assert_close(
        weighted(feature_map), expected * 12 / probabilities.sum((2, 3))[..., None], atol=1e-5, rtol=1e-5
    )


def test_visibility_is_the_part_mass_in_cells_capped_at_one():
    partition = fixed_probabilities(
        PredictedMasks(in_channels=1, num_part_labels=2, visible_cells=2.0), [0.0, math.log(3.0)]
    )  # p = (1/4, 3/4) in each of 4 cells
    visibility = partition.outputs(torch.randn(1, 1, 2, 2)).visibility
    torch.testing.assert_close(visibility, torch.tensor([[0.5, 1.0]]))  # masses 1 and 3 cells, / 2, capped


def test_soft_target_loss_on_a_hand_made_map():
    partition = fixed_probabilities(PredictedMasks(in_channels=1, num_part_labels=2), [0.0, math.log(3.0)])
    logits = partition.outputs(torch.zeros(1, 1, 2, 2)).logits
    targets = partition.target(hand_map(), (2, 2))
    torch.testing.assert_close(targets[0, 1], torch.tensor([[0.75, 1.0], [0.0, 0.0]]))
    q, p = 0.25, 0.75  # predicted background, part
    cells = [-(0.25 * math.log(q) + 0.75 * math.log(p)), -math.log(p), -math.log(q), -math.log(q)]
    loss = partition.mask_loss(logits, hand_map())
    assert loss.item() == pytest.approx(sum(cells) / 4, rel=1e-6)


def test_nearest_target_loss_on_a_hand_made_map():
    partition = fixed_probabilities(
        PredictedMasks(in_channels=1, num_part_labels=2, targets="nearest"), [0.0, math.log(3.0)]
    )
    logits = partition.outputs(torch.zeros(1, 1, 2, 2)).logits
    assert torch.equal(partition.target(hand_map(), (2, 2)), torch.tensor([[[1, 1], [0, 0]]]))
    loss = partition.mask_loss(logits, hand_map())
    assert loss.item() == pytest.approx((2 * math.log(4 / 3) + 2 * math.log(4)) / 4, rel=1e-6)


def test_smoothed_targets_stay_shares_that_sum_to_one():
    partition = PredictedMasks(in_channels=1, num_part_labels=3, target_sigma=2.0)
    part_map = torch.randint(0, 3, (2, 16, 8))
    targets = partition.target(part_map, (4, 2))
    assert targets.shape == (2, 3, 4, 2) and (targets >= 0).all()
    torch.testing.assert_close(targets.sum(1), torch.ones(2, 4, 2))
    sharp = PredictedMasks(in_channels=1, num_part_labels=3).target(part_map, (4, 2))
    assert not torch.allclose(targets, sharp)


def test_predictions_are_smoothed_over_the_feature_grid():
    plain = PredictedMasks(in_channels=3, num_part_labels=4)
    smooth = PredictedMasks(in_channels=3, num_part_labels=4, sigma=1.0)
    smooth.load_state_dict(plain.state_dict())
    feature_map = torch.randn(2, 3, 6, 4)
    raw, blurred = plain.outputs(feature_map), smooth.outputs(feature_map)
    rows, cols = blur_matrix(6, 1.0, 3), blur_matrix(4, 1.0, 3)
    torch.testing.assert_close(blurred.masks, rows @ raw.masks @ cols.T)
    torch.testing.assert_close(blurred.visibility, raw.visibility)  # visibility: the unsmoothed mass


def test_gradients_reach_the_pixel_classifier_from_both_losses():
    partition = PredictedMasks(in_channels=4, num_part_labels=3, hidden_channels=4)
    feature_map = torch.randn(2, 4, 8, 4, requires_grad=True)
    out = partition.outputs(feature_map)
    partition.mask_loss(out.logits, torch.randint(0, 3, (2, 32, 16))).backward(retain_graph=True)
    first, last = partition.classifier[0].weight, partition.classifier[-1].weight
    assert first.grad.abs().sum() > 0 and last.grad.abs().sum() > 0 and feature_map.grad.abs().sum() > 0
    partition.zero_grad()
    out.features.pow(2).sum().backward()  # the identity loss also shapes the masks, through the pooling
    assert last.grad.abs().sum() > 0


def test_missing_maps_and_bad_options_are_clear_errors():
    partition = PredictedMasks(in_channels=2, num_part_labels=3)
    logits = partition.outputs(torch.randn(1, 2, 4, 2)).logits
    with pytest.raises(ValueError, match="part maps for training"):
        partition.mask_loss(logits, None)
    with pytest.raises(ValueError, match="labels 0..2"):
        partition.mask_loss(logits, torch.full((1, 8, 4), 5))
    with pytest.raises(ValueError, match="targets='hard'; choose soft or nearest"):
        PredictedMasks(in_channels=2, targets="hard")
    with pytest.raises(ValueError, match="target_sigma=2.0; smoothed targets are soft"):
        PredictedMasks(in_channels=2, targets="nearest", target_sigma=2.0)


def test_built_by_name_with_the_backbone_channels():
    partition = create_partition("predicted_mask", num_part_labels=5, in_channels=6, hidden_channels=4)
    assert isinstance(partition, PredictedMasks) and partition.num_parts == 5
    assert partition.classifier[0].in_channels == 6
    with pytest.raises(ValueError, match="pass in_channels"):
        create_partition("predicted_mask")
    with pytest.raises(ValueError, match="has no option sigmaa"):
        create_partition("predicted_mask", in_channels=6, sigmaa=1.0)


def test_training_loss_is_the_weighted_mask_loss():
    partition = PredictedMasks(in_channels=3, num_part_labels=3, loss_weight=0.25)
    out = partition.outputs(torch.randn(2, 3, 4, 2))
    maps = torch.randint(0, 3, (2, 16, 8))
    torch.testing.assert_close(partition.training_loss(out, maps), 0.25 * partition.mask_loss(out.logits, maps))
    assert PredictedMasks(in_channels=3, num_part_labels=3, loss_weight=0).training_loss(out, None) is None


def tiny_module(partition: dict, **kwargs) -> ReIDModule:
    return ReIDModule(
        backbone={"name": "osnet", "pretrained": False, "width": 0.25},
        partition=partition,
        classifier={"name": "shared"},
        optimizer={"name": "sgd", "lr": 0.01},
        scheduler={"name": "none"},
        num_classes=3,
        image_size=(64, 32),
        **kwargs,
    )


def test_training_step_adds_the_mask_loss_and_evaluation_needs_the_image_alone(one_torch_thread):
    torch.manual_seed(0)
    model = tiny_module({"name": "predicted_mask", "loss_weight": 0.5}, loss={"label_smoothing": 0.0})
    batch = {
        "image": torch.randn(4, 3, 64, 32),
        "part_map": torch.randint(0, 7, (4, 64, 32)),
        "pid": torch.tensor([0, 1, 2, 0]),
    }
    model.train()
    torch.manual_seed(1)
    loss = model.training_step(batch, 0)
    torch.manual_seed(1)
    out = model(batch["image"], batch["part_map"])
    ce = torch.nn.functional.cross_entropy(out["logits"], batch["pid"])
    mask = model.partition.mask_loss(out["partition"].logits, batch["part_map"])
    torch.testing.assert_close(loss, ce + 0.5 * mask)
    model.eval()
    with torch.no_grad():
        embedding, visibility = model.embed_with_visibility(batch["image"])  # no part maps
    assert embedding.shape == (4, 7 * model.feature_dim) and visibility.shape == (4, 7)
    assert not model.requires_part_maps and model.example_input()[1] is None


@pytest.mark.slow
def test_train_py_with_predicted_masks_needs_no_part_maps_at_test(tmp_path):
    """A tiny synthetic set whose query and gallery part maps are deleted: training (maps for the training
    folder only), validation pictures, the visibility-aware test and the ranked lists all run."""
    import json
    import shutil

    from reid_lightning.data.datasets import load_dataset
    from tests.conftest import run_entry_point

    root = tmp_path / "data" / "synthetic_tiny"
    splits = load_dataset("synthetic", root, num_train_ids=12, num_test_ids=8, num_distractors=10, num_junk=4)
    for split in ("query", "gallery"):
        shutil.rmtree(root / "part_maps" / splits.folder[split])
    run_entry_point(
        "train.py",
        "data=synthetic_tiny",
        "head=predicted_mask_shared_visibility",
        "trainer.max_epochs=1",
        "trainer.check_val_every_n_epoch=1",
        "data.height=64",
        "data.width=32",
        f"paths.data_dir={tmp_path / 'data'}",
        f"paths.log_dir={tmp_path / 'logs'}",
    )
    (run_dir,) = (tmp_path / "logs" / "train" / "runs").iterdir()
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "finished" and 0.0 <= record["metrics"]["mAP"] <= 1.0
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0, "scalars": 0})
    events.Reload()
    assert "train/partition_loss" in events.Tags()["scalars"]
    picture = events.Images("val/part_masks/0")[0]
    assert picture.height == 2 * 64 + 2  # given masks above predicted ones
    assert (run_dir / "ranked_lists.png").is_file()  # ranked by the visibility-aware distance
