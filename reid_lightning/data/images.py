"""Reading an image file: the one place that turns a file into RGB uint8 pixels (3, H, W).

Used by the per-file dataset, the decode cache, the pre-flight check (`data.verify`, `reid-data check`) and
the deploy tools, so all of them see the same pixels. Three things a plain `Image.open(path).convert("RGB")`
gets wrong:

- EXIF orientation: a phone or camera JPEG stored sideways with an orientation tag is shown upright by every
  viewer; it is rotated here the same way (`ImageOps.exif_transpose`), and its part map, made from the upright
  picture, matches its size.
- 16-bit images (PNG modes I;16 and I): PIL's conversion to RGB clips each value at 255, so a 16-bit picture
  comes out almost white (99.6 % of the pixels at 255 on a typical one). Here 0..65535 is scaled to 0..255.
- A corrupt, truncated or missing file raises `UnreadableImage` naming the file and the fix, not PIL's bare
  message from inside a loader worker.
"""

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
UINT16_TO_UINT8 = 257  # 65535 / 255: maps 0..65535 onto 0..255 exactly at both ends


class UnreadableImage(RuntimeError):
    """An image file that cannot be decoded (corrupt, truncated, not an image, missing)."""


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """A PIL image (after EXIF transposition) -> (H, W, 3) uint8 RGB, 16-bit and float modes scaled, not clipped."""
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "I":
        values = np.asarray(image).astype(np.int64)  # (H, W)
        # mode I holds 32-bit integers; PIL opens 16-bit grey PNGs as I (older Pillow) or I;16 (newer)
        if image.mode in SIXTEEN_BIT_MODES or values.max(initial=0) > 255:
            values = (values + UINT16_TO_UINT8 // 2) // UINT16_TO_UINT8
        grey = np.clip(values, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode == "F":  # 32-bit float: 0..1 is scaled, anything else clipped
        values = np.asarray(image)
        scale = 255.0 if values.size and float(np.nanmax(values)) <= 1.0 else 1.0
        grey = np.clip(np.nan_to_num(values) * scale + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def read_rgb(path: str | Path) -> np.ndarray:
    """Image file -> (H, W, 3) uint8 RGB, upright (EXIF orientation applied), fully decoded."""
    try:
        with Image.open(path) as image:
            image.load()  # decode everything now: a truncated file fails here, naming it
            return to_rgb_array(ImageOps.exif_transpose(image))
    except FileNotFoundError as err:
        raise UnreadableImage(
            f"cannot read image {path}: the file does not exist. Fix the dataset's file list or restore the file."
        ) from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        empty = " (0 bytes)" if _is_empty(path) else ""
        raise UnreadableImage(
            f"cannot read image {path}{empty}: {err}. The file is corrupt or not an image; "
            "replace it from the original dataset or delete it."
        ) from err


def read_image(path: str | Path) -> torch.Tensor:
    """Image file -> uint8 (3, H, W), as `read_rgb`."""
    return torch.from_numpy(read_rgb(path).copy()).permute(2, 0, 1)  # (3, H, W)


def _is_empty(path: str | Path) -> bool:
    try:
        return Path(path).stat().st_size == 0
    except OSError:
        return False


def upright_size(path: str | Path) -> tuple[int, int]:
    """(H, W) of an image as `read_rgb` returns it (EXIF orientation applied), from its header only."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise UnreadableImage(
            f"cannot read image {path}: {err}. The file is corrupt or not an image; "
            "replace it from the original dataset or delete it."
        ) from err
    return (width, height) if orientation in QUARTER_TURNS else (height, width)


ORIENTATION_TAG = 0x0112  # EXIF Orientation
QUARTER_TURNS = (5, 6, 7, 8)  # orientations stored sideways: width and height swap when shown upright
