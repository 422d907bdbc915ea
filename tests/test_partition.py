"""Partitions: shapes, exact stripe and mask pooling on hand-made maps, Gaussian smoothing, errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.ndimage import gaussian_filter

from reid_lightning.models.partitions import PARTITIONS, blur_matrix, create_partition


def rows_feature_map(h: int = 6, w: int = 3, channels: int = 2) -> torch.Tensor:
    """(1, C, h, w) with value 10 * row + channel: every row differs, every column is the same."""
    rows = torch.arange(h, dtype=torch.float32).view(1, 1, h, 1) * 10
    channel = torch.arange(channels, dtype=torch.float32).view(1, channels, 1, 1)
    return (rows + channel).expand(1, channels, h, w)


def square_map(size: int = 20, top: int = 5, left: int = 5, side: int = 10, label: int = 1) -> torch.Tensor:
    part_map = torch.zeros(1, size, size, dtype=torch.long)
    part_map[0, top : top + side, left : left + side] = label
    return part_map


@pytest.mark.parametrize("name, parts", [("global", 1), ("stripes", 6), ("binary_mask", 7), ("gaussian_mask", 7)])
def test_every_partition_gives_batch_parts_channels(name, parts):
    partition = create_partition(name)
    feature_map = torch.randn(3, 5, 8, 4)
    part_maps = torch.randint(0, 7, (3, 32, 16))
    out = partition(feature_map, part_maps if partition.requires_part_maps else None)
    assert out.shape == (3, parts, 5) and partition.num_parts == parts
    assert partition.requires_part_maps == name.endswith("_mask")


def test_global_pool_is_the_mean_of_the_map():
    feature_map = torch.randn(2, 3, 4, 2)
    torch.testing.assert_close(create_partition("global")(feature_map), feature_map.mean((2, 3))[:, None])


def test_stripes_give_the_mean_of_their_rows_exactly():
    out = create_partition("stripes", num_stripes=3)(rows_feature_map(h=6))  # rows {0,1} {2,3} {4,5}
    expected = torch.tensor([[5.0, 6.0], [25.0, 26.0], [45.0, 46.0]])  # 10 * (mean row) + channel
    assert torch.equal(out[0], expected)


def test_stripes_on_an_indivisible_height_share_the_middle_row():
    out = create_partition("stripes", num_stripes=2)(rows_feature_map(h=5, channels=1))  # rows 0-2 and 2-4
    assert torch.equal(out[0, :, 0], torch.tensor([10.0, 30.0]))


def test_binary_mask_pools_exactly_its_region():
    feature_map = torch.randn(1, 4, 8, 4)
    part_map = torch.zeros(1, 8, 4, dtype=torch.long)
    part_map[0, 2:5, 1:3] = 3  # a 3 x 2 region of label 3
    region = feature_map[0, :, 2:5, 1:3]
    weighted = create_partition("binary_mask", pooling="weighted")(feature_map, part_map)
    torch.testing.assert_close(weighted[0, 3], region.mean((1, 2)))
    plain = create_partition("binary_mask")(feature_map, part_map)  # thesis: sum over the part / (h * w)
    torch.testing.assert_close(plain[0, 3], region.sum((1, 2)) / 32)
    assert torch.equal(plain[0, 1], torch.zeros(4))  # label 1 is absent: a zero feature


def test_binary_masks_are_area_downsampled_to_the_feature_map():
    part_map = torch.zeros(1, 16, 8, dtype=torch.long)
    part_map[0, 4:10, 2:6] = 2  # aligned to the 2 x 2 cells of an (8, 4) map
    part_map[0, 0, 0] = 1  # one pixel of a 2 x 2 cell
    masks = create_partition("binary_mask").masks(part_map, (8, 4))
    expected = torch.zeros(8, 4)
    expected[2:5, 1:3] = 1
    assert masks.shape == (1, 7, 8, 4)
    assert torch.equal(masks[0, 2], expected)
    assert masks[0, 1, 0, 0] == 0.25 and masks[0, 1].sum() == 0.25  # covered fraction of the cell
    torch.testing.assert_close(masks.sum(1), torch.ones(1, 8, 4))  # the 7 masks tile the map
    bilinear = create_partition("binary_mask", interpolation="bilinear").masks(part_map, (8, 4))
    assert bilinear.shape == (1, 7, 8, 4) and bilinear.min() >= 0 and bilinear.max() <= 1


def test_background_can_be_left_out():
    partition = create_partition("binary_mask", include_background=False)
    part_map = torch.full((1, 4, 4), 6, dtype=torch.long)
    masks = partition.masks(part_map, (4, 4))
    assert partition.num_parts == 6 and partition.labels == (1, 2, 3, 4, 5, 6)
    assert masks[0, 5].sum() == 16 and masks[0, :5].sum() == 0  # last part = label 6
    assert create_partition("gaussian_mask", num_part_labels=4, include_background=False).num_parts == 3


def test_gaussian_mask_keeps_its_core_and_spreads_around_it():
    masks = create_partition("gaussian_mask", sigma=1.5).masks(square_map(), (20, 20))[0, 1]
    assert masks[9:11, 9:11].min() > 0.99  # the core of the part stays ~1
    # Across the part's edge (between columns 4 and 5) the mask falls like the Gaussian's CDF:
    # Phi(0.5 / 1.5) = 0.63 on the last pixel inside, 0.37 and 0.16 on the first two outside.
    assert masks[10, 5] == pytest.approx(0.63, abs=0.01)
    assert masks[10, 4] == pytest.approx(0.37, abs=0.01) and masks[10, 3] == pytest.approx(0.16, abs=0.01)
    assert masks[10, 0] < 2e-3 and masks[0, 0] < 1e-5  # 3 sigma and more away: nothing
    torch.testing.assert_close(masks.sum(), torch.tensor(100.0))  # a normalised filter moves, keeps mass


def test_gaussian_mask_with_sigma_to_zero_is_the_binary_mask():
    part_map = torch.randint(0, 7, (2, 12, 8))
    binary = create_partition("binary_mask").masks(part_map, (12, 8))
    for sigma in (0.0, 1e-3):
        smooth = create_partition("gaussian_mask", sigma=sigma).masks(part_map, (12, 8))
        assert torch.equal(smooth, binary)


def test_gaussian_smoothing_replicates_borders():
    masks = create_partition("gaussian_mask", sigma=1.5).masks(square_map(top=0), (20, 20))[0, 1]
    assert masks[0, 10] > 0.99  # a part touching the top edge is not dimmed there


def test_max_normalisation_lifts_a_small_detection_to_one():
    part_map = square_map(side=1, top=10, left=10)  # a single detected pixel
    plain = create_partition("gaussian_mask", sigma=2.0).masks(part_map, (20, 20))[0, 1]
    lifted = create_partition("gaussian_mask", sigma=2.0, normalize="max").masks(part_map, (20, 20))[0, 1]
    assert plain.max() < 0.1 and lifted.max() == pytest.approx(1.0)
    torch.testing.assert_close(lifted, plain / plain.max())


def test_gaussian_masks_match_scipy_filtering_then_area_resizing():
    part_map = torch.zeros(1, 64, 32, dtype=torch.long)
    part_map[0, 0:14, 10:22] = 1  # head, touching the top edge
    part_map[0, 14:36, 6:26] = 2  # torso
    part_map[0, 36:64, 8:24] = 5  # legs
    masks = create_partition("gaussian_mask", sigma=3.0).masks(part_map, (16, 8))
    for label in (0, 1, 2, 5):
        binary = (part_map[0] == label).double().numpy()
        smooth = gaussian_filter(binary, sigma=3.0, mode="nearest", truncate=3.0)  # replicated borders
        expected = F.interpolate(torch.from_numpy(smooth)[None, None], size=(16, 8), mode="area")[0, 0]
        torch.testing.assert_close(masks[0, label], expected.float(), atol=1e-5, rtol=0)


def test_bilinear_masks_match_interpolating_the_smoothed_image():
    part_map = torch.randint(0, 7, (2, 20, 12))
    masks = create_partition("gaussian_mask", sigma=1.0, interpolation="bilinear").masks(part_map, (5, 3))
    smooth = create_partition("gaussian_mask", sigma=1.0).masks(part_map, (20, 12))
    expected = F.interpolate(smooth, size=(5, 3), mode="bilinear", align_corners=False)
    torch.testing.assert_close(masks, expected)


def test_blur_matrix_rows_are_the_gaussian_with_replicated_borders():
    matrix = blur_matrix(9, sigma=1.0, radius=4)
    kernel = np.exp(-(np.arange(-4, 5) ** 2) / 2)
    kernel /= kernel.sum()
    torch.testing.assert_close(matrix[4], torch.from_numpy(kernel).float())  # the middle: the kernel itself
    assert matrix[0, 0] == pytest.approx(kernel[:5].sum())  # the edge pixel takes the weight falling outside
    torch.testing.assert_close(matrix.sum(1), torch.ones(9))


def test_mask_partitions_need_part_maps():
    with pytest.raises(ValueError, match="partition=gaussian_mask needs part maps"):
        create_partition("gaussian_mask")(torch.randn(1, 2, 4, 2), None)


def test_bad_labels_options_and_names_are_rejected():
    with pytest.raises(ValueError, match=r"takes labels 0..6 \(num_part_labels=7\) but the part maps hold 7"):
        create_partition("binary_mask")(torch.randn(1, 2, 4, 2), torch.full((1, 8, 4), 7))
    with pytest.raises(ValueError, match="integer labels"):
        create_partition("binary_mask")(torch.randn(1, 2, 4, 2), torch.zeros(1, 8, 4))
    with pytest.raises(ValueError, match="2 part maps for a batch of 1"):
        create_partition("binary_mask")(torch.randn(1, 2, 4, 2), torch.zeros(2, 8, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="no option sigma; its options are gem_eps, gem_p, num_stripes, pooling"):
        create_partition("stripes", sigma=2.0)
    with pytest.raises(ValueError, match="odd"):
        create_partition("gaussian_mask", kernel_size=4)
    with pytest.raises(ValueError, match="pooling='max'"):
        create_partition("binary_mask", pooling="max")
    with pytest.raises(ValueError, match="known: global, stripes, binary_mask, gaussian_mask"):
        create_partition("pyramid")


def test_visibility_is_each_part_mask_mass_in_cells_and_every_stripe_is_visible():
    part_map = torch.zeros(1, 8, 4, dtype=torch.long)
    part_map[0, 0:4, 0:2] = 1  # label 1 covers 2 x 1 cells of a (4, 2) feature map
    part_map[0, 4:5, 0:2] = 2  # label 2 covers half a cell
    partition = create_partition("binary_mask", num_part_labels=4, visible_cells=2.0)
    out = partition.outputs(torch.randn(1, 3, 4, 2), part_map)
    torch.testing.assert_close(out.visibility, torch.tensor([[1.0, 1.0, 0.25, 0.0]]))  # 5.5, 2, 0.5, 0 cells / 2
    stripes = create_partition("stripes", num_stripes=3).outputs(torch.randn(2, 3, 6, 2))
    assert torch.equal(stripes.visibility, torch.ones(2, 3)) and stripes.masks is None


@pytest.mark.parametrize(
    "name, evaluation, training",
    [
        ("global", False, False),
        ("stripes", False, False),
        ("gaussian_mask", True, True),
        ("predicted_mask", False, True),
    ],
)
def test_where_each_partition_needs_part_maps(name, evaluation, training):
    cls = PARTITIONS.get(name)
    assert (cls.requires_part_maps, cls.requires_part_maps_for_training) == (evaluation, training)
