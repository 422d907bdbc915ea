"""Painting a person: region canvas (figure.py) -> colours, with the identity's clothes, pattern and shading.

Each region takes its identity colour (sleeves and trouser legs show skin when short), the upper garment
shows its pattern (stripes, checks, logo) in body coordinates so it moves with the body, and a horizontal
shade makes the body look round. Used for the person of an image and for a pedestrian occluder.
"""

import functools

import numpy as np

from reid_lightning.data.generator.cameras import Shot
from reid_lightning.data.generator.figure import (
    R_BAG,
    R_FACE,
    R_FOREARM,
    R_HAIR,
    R_HAND,
    R_LOWER_LEG,
    R_PELVIS,
    R_SHOE,
    R_STRAP,
    R_TORSO,
    R_UPPER_ARM,
    R_UPPER_LEG,
    UPPER_GARMENT,
    draw_regions,
)
from reid_lightning.data.generator.identities import Identity


@functools.lru_cache(maxsize=4)
def pixel_grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Row and column index of every pixel, two (H, W) float32 arrays."""
    yy, xx = np.mgrid[0 : size[0], 0 : size[1]].astype(np.float32)
    return yy, xx


def _pattern(ident: Identity, bu: np.ndarray, bv: np.ndarray, view: str) -> np.ndarray | None:
    """Where the upper garment shows its second colour, in body coordinates (moves with the body)."""
    rows, cols = (bv * ident.stripe_freq) % 1 < 0.5, (bu * ident.stripe_freq * 1.5) % 1 < 0.5
    if ident.pattern == "hstripes":
        return rows
    if ident.pattern == "vstripes":
        return cols
    if ident.pattern == "checks":
        return rows ^ cols
    if ident.pattern == "logo" and view == "front":
        return (np.abs(bu) < 0.04) & (bv > 0.21) & (bv < 0.29)
    return None


def _region_colours(ident: Identity) -> np.ndarray:
    """Colour of every region for this identity, (256, 3) float32."""
    palette = np.zeros((256, 3), np.float32)
    sleeve = ident.upper2 if ident.pattern == "twotone" else ident.upper
    palette[
        [
            R_FACE,
            R_HAIR,
            R_TORSO,
            R_UPPER_ARM,
            R_FOREARM,
            R_HAND,
            R_PELVIS,
            R_UPPER_LEG,
            R_LOWER_LEG,
            R_SHOE,
            R_BAG,
            R_STRAP,
        ]
    ] = [
        ident.skin,
        ident.hair,
        ident.upper,
        sleeve,
        sleeve if ident.long_sleeves else ident.skin,
        ident.skin,
        ident.lower,
        ident.lower,
        ident.lower if ident.long_trousers else ident.skin,
        ident.shoes,
        ident.bag_colour,
        ident.bag_colour * 0.7,
    ]
    return palette


def paint_person(
    ident: Identity, shot: Shot, size: tuple[int, int], rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """The person's colours (H, W, 3) float32 in 0..1 and regions (H, W) uint8 (R_BG where not drawn)."""
    h, w = size
    regions = draw_regions(ident, shot.place, shot.view, shot.phase, shot.amp, size)
    colour = _region_colours(ident)[regions]  # (H, W, 3)
    yy, xx = pixel_grid(size)
    bu = (xx - shot.place.cx) / shot.place.height  # body coordinates, (H, W)
    bv = (yy - shot.place.top) / shot.place.height
    pattern = _pattern(ident, bu, bv, shot.view)
    if pattern is not None:
        garment = UPPER_GARMENT[regions] & ((regions != R_FOREARM) | ident.long_sleeves)
        colour[pattern & garment] = ident.upper2
    shade = 1 - 0.35 * np.minimum((bu / (0.13 * ident.width)) ** 2, 1)  # a rounded body
    colour *= shade[..., None] * (1 + 0.03 * rng.standard_normal((h, w, 1), dtype=np.float32))
    return colour, regions
