"""Joint transforms: the part map follows every geometric step, and only the image is erased/normalised."""

import torch

from reid_lightning.data.transforms import (
    TransformConfig,
    apply_joint,
    build_image_only_transform,
    build_transform,
)


def test_flip_moves_image_and_map_together():
    image = torch.zeros(3, 8, 4, dtype=torch.uint8)
    image[:, :, 0] = 255  # left column white
    part_map = torch.zeros(8, 4, dtype=torch.uint8)
    part_map[:, 0] = 3  # left column labelled 3
    cfg = TransformConfig(height=8, width=4, flip=True, pad=0, random_erasing=0.0, mean=(0, 0, 0), std=(1, 1, 1))
    joint = build_transform(cfg, train=True)
    for _ in range(20):
        img, mask = apply_joint(joint, None, image, part_map)
        white_col = int(img[0].mean(0).argmax())
        labelled_col = int((mask == 3).float().mean(0).argmax())
        assert white_col == labelled_col


def test_resize_keeps_labels_exact_and_types():
    part_map = torch.randint(0, 7, (100, 50), dtype=torch.uint8)
    image = torch.randint(0, 255, (3, 100, 50), dtype=torch.uint8)
    cfg = TransformConfig(height=128, width=64)
    img, mask = apply_joint(build_transform(cfg, train=False), None, image, part_map)
    assert img.shape == (3, 128, 64) and img.dtype == torch.float32
    assert mask.shape == (128, 64)
    assert set(mask.unique().tolist()) <= set(range(7))  # nearest neighbour: no blended labels
    assert type(img) is torch.Tensor and type(mask) is torch.Tensor


def test_random_erasing_touches_image_only():
    cfg = TransformConfig(height=16, width=8, flip=False, pad=0, random_erasing=1.0)
    image = torch.full((3, 16, 8), 200, dtype=torch.uint8)
    part_map = torch.full((16, 8), 2, dtype=torch.uint8)
    img, mask = apply_joint(build_transform(cfg, True), build_image_only_transform(cfg, True), image, part_map)
    assert (img == 0).any()  # something was erased
    assert (mask == 2).all()  # the map is untouched
