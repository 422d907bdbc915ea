"""Batch augmentation on the device against today's per-sample torchvision transforms.

The per-sample transforms draw from torch's global generator in a fixed order (flip, crop offsets, erasing);
`replay_torchvision_draws` repeats those draws from the same seed, so the batch path can be given the very
moves the per-sample path made and must then produce the same pixels and labels, bit for bit.
"""

import math

import pytest
import torch
from torchvision.transforms import v2

from reid_lightning.data.batch_augment import BatchAugment, BatchDraws, batch_seed
from reid_lightning.data.transforms import TransformConfig, apply_joint, build_image_only_transform, build_transform

CFG = TransformConfig(height=32, width=16, flip=True, pad=4, random_erasing=0.5)


def replay_torchvision_draws(seed: int, cfg: TransformConfig) -> dict:
    """The draws the per-sample train transform makes after torch.manual_seed(seed), in its order:
    RandomHorizontalFlip, RandomCrop (top, left), RandomErasing (p, then up to 10 tries)."""
    torch.manual_seed(seed)
    flip = bool(torch.rand(1) < 0.5)  # flipped unless rand >= p
    top = int(torch.randint(0, 2 * cfg.pad + 1, size=()))
    left = int(torch.randint(0, 2 * cfg.pad + 1, size=()))
    box = (0, 0, 0, 0)
    if torch.rand(1) < cfg.random_erasing:
        for _ in range(10):
            area = cfg.height * cfg.width * torch.empty(1).uniform_(0.02, 0.33).item()
            aspect = math.exp(torch.empty(1).uniform_(math.log(0.3), math.log(3.3)).item())
            h, w = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
            if h < cfg.height and w < cfg.width:
                i = int(torch.randint(0, cfg.height - h + 1, size=(1,)))
                j = int(torch.randint(0, cfg.width - w + 1, size=(1,)))
                box = (i, j, h, w)
                break
    return {"flip": flip, "top": top, "left": left, "box": box}


def as_draws(draws: list[dict]) -> BatchDraws:
    column = [[d["box"][k] for d in draws] for k in range(4)]
    return BatchDraws(
        torch.tensor([d["flip"] for d in draws]),
        torch.tensor([d["top"] for d in draws]),
        torch.tensor([d["left"] for d in draws]),
        *(torch.tensor(c) for c in column),
    )


def random_sample(seed: int, cfg: TransformConfig = CFG) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1000 + seed)
    image = torch.randint(0, 256, (3, cfg.height, cfg.width), dtype=torch.uint8, generator=g)
    part_map = torch.randint(0, 7, (cfg.height, cfg.width), dtype=torch.uint8, generator=g)
    return image, part_map


def test_the_same_moves_give_the_same_pixels_and_labels_as_the_per_sample_transforms():
    joint, image_only = build_transform(CFG, train=True), build_image_only_transform(CFG, train=True)
    seeds = range(24)
    samples = [random_sample(s) for s in seeds]
    expected = []
    for seed, (image, part_map) in zip(seeds, samples, strict=True):
        torch.manual_seed(seed)
        expected.append(apply_joint(joint, image_only, image, part_map))
    draws = [replay_torchvision_draws(seed, CFG) for seed in seeds]
    assert {d["flip"] for d in draws} == {True, False} and any(d["box"][2] for d in draws)  # every move occurs
    assert any(d["box"][2] == 0 for d in draws)
    images, maps = BatchAugment(CFG)(
        torch.stack([s[0] for s in samples]), torch.stack([s[1] for s in samples]), as_draws(draws)
    )
    assert images.dtype == torch.float32 and maps.dtype == torch.int64 and maps.shape == (24, 32, 16)
    for k, (image, part_map) in enumerate(expected):
        assert torch.equal(images[k], image), f"sample {k}: {draws[k]}"
        assert torch.equal(maps[k], part_map.long()), f"sample {k}: {draws[k]}"


def test_hand_worked_flip_and_shift_of_a_tiny_batch():
    cfg = TransformConfig(height=2, width=3, pad=1, random_erasing=0.0, mean=(0, 0, 0), std=(1, 1, 1))
    image = torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.uint8).expand(3, 2, 3)
    labels = torch.tensor([[1, 2, 3], [4, 5, 6]], dtype=torch.uint8)
    # sample 0: no flip, crop at (0, 0) of the padded image = shift right and down by one
    # sample 1: flip, crop at (1, 2) = the mirrored image shifted left by one
    draws = BatchDraws(
        torch.tensor([False, True]),
        torch.tensor([0, 1]),
        torch.tensor([0, 2]),
        *(torch.zeros(2, dtype=torch.long) for _ in range(4)),
    )
    images, maps = BatchAugment(cfg)(torch.stack([image, image]), torch.stack([labels, labels]), draws)
    assert maps.tolist() == [[[0, 0, 0], [0, 1, 2]], [[2, 1, 0], [5, 4, 0]]]
    assert (images[:, 0] * 255).round().long().tolist() == maps.tolist()


def test_draws_follow_torchvisions_distributions():
    n = 20000
    draws = BatchAugment(CFG).draw(n, torch.Generator().manual_seed(0))
    assert draws.flip.float().mean().item() == pytest.approx(0.5, abs=0.015)
    for offsets in (draws.top, draws.left):  # uniform over 0..2*pad
        counts = torch.bincount(offsets, minlength=2 * CFG.pad + 1).float() / n
        assert len(counts) == 2 * CFG.pad + 1 and counts.sub(1 / (2 * CFG.pad + 1)).abs().max() < 0.015
    erased = draws.erase_h > 0
    eraser = v2.RandomErasing(p=1.0, value=0)
    torch.manual_seed(0)
    reference = [eraser.make_params([torch.zeros(3, CFG.height, CFG.width)]) for _ in range(n)]
    ref_h = torch.tensor([r["h"] for r in reference if r["v"] is not None]).float()
    ref_w = torch.tensor([r["w"] for r in reference if r["v"] is not None]).float()
    fits = len(ref_h) / n  # the share of samples torchvision finds a box for
    assert erased.float().mean().item() == pytest.approx(CFG.random_erasing * fits, abs=0.015)
    h, w = draws.erase_h[erased].float(), draws.erase_w[erased].float()
    assert h.mean().item() == pytest.approx(ref_h.mean().item(), rel=0.03)
    assert w.mean().item() == pytest.approx(ref_w.mean().item(), rel=0.03)
    assert (h * w).mean().item() == pytest.approx((ref_h * ref_w).mean().item(), rel=0.04)
    assert (draws.erase_top + draws.erase_h <= CFG.height).all()
    assert (draws.erase_left + draws.erase_w <= CFG.width).all()


def test_draws_are_reproducible_from_the_seed_and_differ_between_batches_and_ranks():
    augment = BatchAugment(CFG)

    def draws(seed):
        return augment.draw(64, torch.Generator().manual_seed(seed))

    assert all(torch.equal(a, b) for a, b in zip(draws(batch_seed(0, 5)), draws(batch_seed(0, 5)), strict=True))
    seeds = {batch_seed(s, b, r) for s in range(3) for b in range(100) for r in range(4)}
    assert len(seeds) == 3 * 100 * 4
    assert not torch.equal(draws(batch_seed(0, 5)).top, draws(batch_seed(0, 6)).top)
    assert not torch.equal(draws(batch_seed(0, 5)).top, draws(batch_seed(0, 5, rank=1)).top)


def test_evaluation_normalisation_equals_the_per_sample_eval_transform():
    image, _ = random_sample(0)
    expected, _ = apply_joint(build_transform(CFG, train=False), None, image, None)
    assert torch.equal(BatchAugment(CFG).normalize(image[None])[0], expected)


def test_switched_off_augmentation_only_normalises():
    cfg = TransformConfig(height=32, width=16, flip=False, pad=0, random_erasing=0.0)
    augment = BatchAugment(cfg)
    images = torch.stack([random_sample(s, cfg)[0] for s in range(8)])
    out, maps = augment(images, None, augment.draw(8, torch.Generator().manual_seed(1)))
    assert maps is None and torch.equal(out, augment.normalize(images))
