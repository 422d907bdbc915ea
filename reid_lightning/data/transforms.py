"""Joint image + part-map transforms built on torchvision.transforms.v2.

The part map travels as a `tv_tensors.Mask`, so every geometric transform (resize, flip, pad, crop)
moves it together with the image and resamples it with nearest neighbour, while photometric ones
(random erasing, normalisation) touch the image only. The eval transform is resize + normalise; its
settings (`PREPROCESSING_FIELDS`) are what a trained model needs from its users, so checkpoints store them
(`eval_preprocessing`) and `reid_lightning.deploy` rebuilds this very transform from them.
"""

from dataclasses import dataclass

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PREPROCESSING_FIELDS = ("height", "width", "mean", "std", "interpolation")  # the eval transform's settings


@dataclass
class TransformConfig:
    """The input size (data.height, data.width) and the augmentation (data.augment, whose defaults these are)."""

    height: int
    width: int
    flip: bool = True  # horizontal flip, p=0.5
    pad: int = 10  # pad then random-crop back to size; 0 disables
    random_erasing: float = 0.0  # probability; 0 disables
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    interpolation: str = "bilinear"  # resize filter (torchvision InterpolationMode value), antialiased


def eval_preprocessing(cfg: TransformConfig) -> dict:
    """The settings of the eval transform as plain values (stored in checkpoints and exported models)."""
    values = {name: getattr(cfg, name) for name in PREPROCESSING_FIELDS}
    return {**values, "mean": [float(v) for v in cfg.mean], "std": [float(v) for v in cfg.std]}


def interpolation_mode(name: str) -> v2.InterpolationMode:
    try:
        return v2.InterpolationMode(name)
    except ValueError:
        known = ", ".join(mode.value for mode in v2.InterpolationMode)
        raise ValueError(f"unknown resize interpolation {name!r}; use one of {known}") from None


def build_resize(cfg: TransformConfig) -> v2.Resize:
    """The resize to the input size (antialiased; a part map, as a Mask, takes nearest neighbour): the first
    step of every transform, and what the decode cache (decode_cache.py) applies once when it stores a set."""
    return v2.Resize((cfg.height, cfg.width), interpolation=interpolation_mode(cfg.interpolation), antialias=True)


def build_transform(cfg: TransformConfig, train: bool) -> v2.Compose:
    """Transform taking (image uint8 (3,H,W) tv_tensors.Image, part_map tv_tensors.Mask) to tensors."""
    size = (cfg.height, cfg.width)
    steps = [build_resize(cfg)]
    if train:
        if cfg.flip:
            steps.append(v2.RandomHorizontalFlip())
        if cfg.pad > 0:
            steps += [v2.Pad(cfg.pad, padding_mode="constant"), v2.RandomCrop(size)]
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(cfg.mean), list(cfg.std))]
    return v2.Compose(steps)


def build_image_only_transform(cfg: TransformConfig, train: bool) -> v2.Compose | None:
    """Photometric steps that must not touch the part map (random erasing hides pixels, not parts)."""
    if train and cfg.random_erasing > 0:
        return v2.RandomErasing(p=cfg.random_erasing, value=0)
    return None


def apply_joint(joint: v2.Compose, image_only, image: torch.Tensor, part_map: torch.Tensor | None):
    """Run `joint` on an image (3,H,W) uint8 and its optional part map (H,W) together, then `image_only`."""
    if part_map is None:
        img, mask = joint(tv_tensors.Image(image)), None
    else:
        img, mask = joint(tv_tensors.Image(image), tv_tensors.Mask(part_map))
    if image_only is not None:
        img = image_only(img)
    return img.as_subclass(torch.Tensor), None if mask is None else mask.as_subclass(torch.Tensor)
