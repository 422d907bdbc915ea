"""One image: the camera's scene, the person (or none), an occluder (or none), then the camera's effects.

The scene is a random crop of the camera's background; the person is painted over it (paint.py) and an
optional occluder over both (occlusion.py), which turns the person's part map to background where it is.
Then the camera: colour cast and exposure, the domain's tone curve, low resolution (camera 6), blur and
sensor noise. Returns the image and the exact part map; its random draws follow a fixed order, so the same
random stream gives the same bytes.
"""

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

from reid_lightning.data.generator.cameras import Camera, Shot
from reid_lightning.data.generator.figure import REGION_TO_PART
from reid_lightning.data.generator.identities import Identity
from reid_lightning.data.generator.occlusion import Occluder
from reid_lightning.data.generator.paint import paint_person


def render(
    ident: Identity | None,
    shot: Shot | None,
    camera: Camera,
    size: tuple[int, int],
    rng: np.random.Generator,
    occlude: Callable[[np.ndarray], Occluder] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Person (or none) over the camera's scene -> image (H, W, 3) uint8, exact part map (H, W) uint8.

    `occlude(body)`, given the (H, W) bool mask of the person's part pixels, returns the occluder to draw
    in front; the part map is background wherever the occluder is.
    """
    h, w = size
    oy, ox = rng.integers(0, camera.scene.shape[0] - h + 1), rng.integers(0, camera.scene.shape[1] - w + 1)
    image = camera.scene[oy : oy + h, ox : ox + w]  # (H, W, 3)
    parts = np.zeros(size, np.uint8)
    if ident is not None and shot is not None:
        colour, regions = paint_person(ident, shot, size, rng)
        image = np.where((regions > 0)[..., None], colour, image)
        parts = REGION_TO_PART[regions]
    if occlude is not None:
        occluder = occlude(parts > 0)
        image = np.where(occluder.mask[..., None], occluder.colour, image)
        parts = np.where(occluder.mask, 0, parts).astype(np.uint8)
    light = camera.cast * camera.gain * rng.uniform(0.9, 1.1) * (1 + rng.uniform(-0.03, 0.03, 3))
    pil = Image.fromarray((np.clip(image * (255 * light).astype(np.float32), 0, 255)).astype(np.uint8))
    if camera.tone is not None:
        pil = pil.point(camera.tone)
    if camera.low_res:
        pil = pil.resize((w // 2, h // 2), Image.BILINEAR).resize((w, h), Image.BILINEAR)
    pil = pil.filter(ImageFilter.GaussianBlur(camera.blur * rng.uniform(0.8, 1.2)))
    noise = (camera.noise * 255) * rng.standard_normal((h, w, 3), dtype=np.float32)
    return np.clip(np.asarray(pil, np.float32) + noise, 0, 255).astype(np.uint8), parts
