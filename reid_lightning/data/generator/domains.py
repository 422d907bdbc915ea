"""Domains: named looks of the synthetic world, for cross-domain experiments (train on one, test on another).

A domain is a preset of five style knobs: the clothing `palette` (which colours people wear), the
`illumination` (exposure, contrast, colour of the light), the `background` (scene colours, textures and
clutter), the number of cameras and the image size. Domain "a" is the Market-like street set the generator
always made (its values are the original constants, so its output is unchanged); domain "b" is a bright
indoor mall: summer clothes, warm low-contrast light, light tiled walls, 8 cameras, taller boxes.
Each style knob can also be chosen on its own (`SyntheticConfig(domain="a", palette="summer")`).
"""

from dataclasses import dataclass

import numpy as np

from reid_lightning.data.market_layout import MARKET_IMAGE_SIZE


@dataclass(frozen=True)
class Palette:
    """Clothing colours (RGB in 0..1) and how often each is drawn."""

    colours: np.ndarray  # (K, 3)
    weights: np.ndarray  # (K,)

    @property
    def probabilities(self) -> np.ndarray:
        return self.weights / self.weights.sum()


@dataclass(frozen=True)
class Illumination:
    """Light of a domain: per-camera exposure and colour-gain ranges, the light's colour, a tone curve."""

    gain: tuple[float, float]  # exposure of a camera, min, max
    cast: tuple[float, float]  # per-channel gain of a camera, min, max (then mean-normalised)
    tint: tuple[float, float, float]  # RGB gains of the domain's light, on top of every camera's cast
    contrast: float  # tone-curve slope around mid-grey (1 = as captured)
    brightness: float  # tone-curve offset in 8-bit levels

    def tone_curve(self) -> list[int] | None:
        """An 8-bit lookup table per RGB channel (768 entries, for PIL's Image.point); None when neutral."""
        if self.contrast == 1.0 and self.brightness == 0.0:
            return None  # as captured (and no time spent on an identity table)
        levels = np.arange(256, dtype=np.float64)
        curve = np.clip(np.round((levels - 127.5) * self.contrast + 127.5 + self.brightness), 0, 255)
        return curve.astype(np.uint8).tolist() * 3


@dataclass(frozen=True)
class Background:
    """A camera's scene: wall above a horizon, floor below, a wall texture and clutter objects."""

    wall: tuple[float, float]  # grey level of the wall, min, max (0..1)
    wall_tint: float  # +- per-channel colour of the wall
    floor: tuple[float, float]  # grey level of the floor, min, max
    floor_tint: float  # +- per-channel colour of the floor
    textures: tuple[str, ...]  # drawn uniformly per camera: bricks | tiles | panels | plain
    clutter: tuple[int, int]  # poles, signs, plants, windows per scene: min, max (exclusive)


PALETTES = {
    # Market: dark and dull colours drawn more often
    "market": Palette(
        colours=np.array(
            [
                [0.08, 0.08, 0.09],
                [0.88, 0.88, 0.86],
                [0.45, 0.45, 0.46],
                [0.72, 0.10, 0.12],
                [0.12, 0.20, 0.62],
                [0.08, 0.10, 0.28],
                [0.14, 0.46, 0.20],
                [0.88, 0.78, 0.15],
                [0.88, 0.45, 0.10],
                [0.88, 0.52, 0.64],
                [0.42, 0.20, 0.52],
                [0.38, 0.24, 0.12],
                [0.78, 0.68, 0.50],
                [0.52, 0.52, 0.33],
                [0.50, 0.68, 0.88],
                [0.24, 0.34, 0.52],
            ]
        ),
        weights=np.array([5, 3, 3, 1.5, 1.5, 2, 1, 1, 1, 1, 1, 1.5, 1.5, 1, 1, 2.5]),
    ),
    # summer: light and saturated colours, little black
    "summer": Palette(
        colours=np.array(
            [
                [0.95, 0.95, 0.93],
                [0.60, 0.80, 0.97],
                [0.90, 0.18, 0.20],
                [0.97, 0.88, 0.25],
                [0.98, 0.58, 0.18],
                [0.97, 0.62, 0.78],
                [0.30, 0.75, 0.35],
                [0.15, 0.65, 0.65],
                [0.85, 0.78, 0.58],
                [0.20, 0.30, 0.75],
                [0.62, 0.35, 0.78],
                [0.10, 0.10, 0.11],
                [0.65, 0.88, 0.60],
            ]
        ),
        weights=np.array([4, 3, 2, 1.5, 1.5, 1.5, 1.5, 1, 2, 1.5, 1, 0.5, 1]),
    ),
}

ILLUMINATIONS = {
    "daylight": Illumination(gain=(0.8, 1.1), cast=(0.87, 1.13), tint=(1.0, 1.0, 1.0), contrast=1.0, brightness=0.0),
    # warm indoor light, brighter and flatter (lower contrast), cameras of one make (little cast between them)
    "warm_indoor": Illumination(
        gain=(0.95, 1.15), cast=(0.95, 1.05), tint=(1.12, 1.0, 0.8), contrast=0.75, brightness=18.0
    ),
}

BACKGROUNDS = {
    "street": Background(
        wall=(0.3, 0.7),
        wall_tint=0.08,
        floor=(0.25, 0.5),
        floor_tint=0.05,
        textures=("bricks", "tiles", "panels", "plain"),
        clutter=(3, 8),
    ),
    # light shop walls in pastel colours over a pale tiled floor, more clutter (shop signs, plants)
    "mall": Background(
        wall=(0.6, 0.85),
        wall_tint=0.15,
        floor=(0.55, 0.75),
        floor_tint=0.03,
        textures=("tiles", "panels", "panels", "plain"),
        clutter=(5, 11),
    ),
}

OCCLUDERS = ("box", "pedestrian", "both")  # occlusion.py draws them

# What a domain sets for every style knob left at None in SyntheticConfig.
DOMAINS = {
    "a": {
        "palette": "market",
        "illumination": "daylight",
        "background": "street",
        "num_cameras": 6,
        "image_size": MARKET_IMAGE_SIZE,
    },
    "b": {
        "palette": "summer",
        "illumination": "warm_indoor",
        "background": "mall",
        "num_cameras": 8,
        "image_size": (144, 64),
    },
}
