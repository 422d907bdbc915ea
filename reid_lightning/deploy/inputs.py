"""What users hand to the FeatureExtractor, turned into RGB uint8 images (3, H, W), one per person.

Accepted: image file paths, PIL images, HxWx3 uint8 numpy arrays (RGB, or BGR as OpenCV reads them:
say so with `bgr=True`), and (frame, boxes) pairs, which give one crop per box (x1, y1, x2, y2 in
pixels, rounded and clipped to the frame, as trackers cut them). Anything else is refused with what
was given and how to convert it, because a silently misread image gives plausible but wrong features.
"""

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reid_lightning.data.images import read_image

ACCEPTED = (
    "an image file path, a PIL image, an HxWx3 uint8 numpy array, or a (frame, boxes) pair with "
    "boxes an (N, 4) array of x1, y1, x2, y2"
)


def is_frame_boxes(item) -> bool:
    """True for a (frame, boxes) pair: an image array and boxes of shape (N, 4) or (4,)."""
    if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], np.ndarray)):
        return False
    boxes = item[1].cpu().numpy() if isinstance(item[1], torch.Tensor) else item[1]
    try:
        boxes = np.asarray(boxes, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return boxes.size == 0 or boxes.shape == (4,) or (boxes.ndim == 2 and boxes.shape[1] == 4)


def as_items(images) -> list:
    """A single input or a list/tuple of inputs -> a list of inputs (a (frame, boxes) pair stays one)."""
    if isinstance(images, (str, Path, Image.Image, np.ndarray, torch.Tensor)) or is_frame_boxes(images):
        return [images]
    if isinstance(images, Iterable) and not isinstance(images, (bytes, dict)):
        return list(images)
    raise TypeError(f"cannot read images from a {type(images).__name__}; pass {ACCEPTED}, or a list of them")


def array_to_tensor(array: np.ndarray, bgr: bool, what: str) -> torch.Tensor:
    """HxWx3 uint8 array (RGB, or BGR when `bgr`) -> RGB uint8 tensor (3, H, W)."""
    if array.dtype != np.uint8:
        hint = " (floats in [0, 1]: (a * 255).round().astype(np.uint8))" if array.dtype.kind == "f" else ""
        raise ValueError(f"{what} is a {array.dtype} array; expected uint8 pixel values 0..255{hint}")
    if array.ndim == 3 and array.shape[0] in (1, 3) and array.shape[2] not in (1, 3):
        raise ValueError(
            f"{what} has shape {array.shape}, which looks channels-first; expected H x W x 3 (use a.transpose(1, 2, 0))"
        )
    if array.ndim != 3 or array.shape[2] != 3:
        hint = {
            2: " (grey: np.stack([a] * 3, axis=-1))",
            3: " (RGBA: a[..., :3])",
            4: " (a batch: pass list(array))",
        }.get(array.ndim, "")
        raise ValueError(f"{what} has shape {array.shape}; expected H x W x 3 (colour){hint}")
    if min(array.shape[:2]) < 1:
        raise ValueError(f"{what} is empty (shape {array.shape})")
    if bgr:
        array = array[..., ::-1]
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)  # (3, H, W)


def crop_boxes(frame: np.ndarray, boxes, bgr: bool, what: str) -> list[torch.Tensor]:
    """One RGB crop (3, h, w) per box (x1, y1, x2, y2), rounded and clipped to the frame."""
    image = array_to_tensor(frame, bgr, f"the frame of {what}")  # (3, H, W)
    height, width = image.shape[1:]
    boxes = boxes.cpu().numpy() if isinstance(boxes, torch.Tensor) else boxes
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)  # (N, 4) x1, y1, x2, y2
    if not np.isfinite(boxes).all():
        raise ValueError(f"boxes of {what} hold NaN or infinite values: {boxes[~np.isfinite(boxes).all(1)][:3]}")
    crops = []
    for index, box in enumerate(boxes):
        x1, y1, x2, y2 = np.round(box).astype(int)
        x1, x2 = np.clip([x1, x2], 0, width)
        y1, y2 = np.clip([y1, y2], 0, height)
        if x2 <= x1 or y2 <= y1:
            raise ValueError(
                f"box {index} of {what}, {box.tolist()} (x1, y1, x2, y2), is empty inside the "
                f"{width}x{height} frame; drop it or fix its coordinates"
            )
        crops.append(image[:, y1:y2, x1:x2])
    return crops


def to_tensors(item, bgr: bool, what: str) -> list[torch.Tensor]:
    """One input -> its RGB uint8 images (3, H, W): one for an image, one per box for (frame, boxes)."""
    if isinstance(item, (str, Path)):
        path = Path(item).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{what}: image file {path} does not exist")
        return [read_image(path)]
    if isinstance(item, Image.Image):
        return [torch.from_numpy(np.array(item.convert("RGB"))).permute(2, 0, 1)]
    if isinstance(item, np.ndarray):
        return [array_to_tensor(item, bgr, what)]
    if is_frame_boxes(item):
        return crop_boxes(item[0], item[1], bgr, what)
    shape = f" of shape {tuple(item.shape)}" if hasattr(item, "shape") else ""
    hint = " (a uint8 (3, H, W) tensor: t.permute(1, 2, 0).cpu().numpy())" if isinstance(item, torch.Tensor) else ""
    raise TypeError(f"{what} is a {type(item).__name__}{shape}; pass {ACCEPTED}{hint}")


def iter_images(items: list, bgr: bool) -> Iterator[torch.Tensor]:
    for index, item in enumerate(items):
        yield from to_tensors(item, bgr, f"input {index}")
