"""Cameras and shots: what a camera adds to every image, and where a person stands in one image.

A camera is a background scene (wall, floor, texture, clutter: domains.Background), viewpoint habits
(how often people are seen from the front, back or side), a colour cast and exposure (domains.Illumination),
blur and sensor noise; camera 6 is low resolution, like Market's. So appearance varies across cameras.
A shot is one image of one person: viewpoint, walking phase and a detector-like placement in the box
(scale and shift), so fixed horizontal stripes miss the body parts while the part maps follow them.
"""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from reid_lightning.data.generator.domains import Background, Illumination
from reid_lightning.data.generator.figure import Placement
from reid_lightning.data.generator.identities import Identity

LOW_RES_CAMERA = 5  # 0-based: c6


@dataclass(frozen=True)
class Camera:
    """What a camera adds to every image it takes."""

    scene: np.ndarray  # (2H, 3W, 3) float background to crop from
    views: np.ndarray  # probabilities of front, back, facing left, facing right
    cast: np.ndarray  # (3,) colour gains (the domain's light colour included)
    gain: float
    blur: float
    noise: float
    low_res: bool
    tone: list[int] | None  # the domain's 8-bit tone curve, per RGB channel (Image.point table); None: none


def _texture(name: str, yy: np.ndarray, xx: np.ndarray, period: int) -> np.ndarray:
    """Where the wall texture draws its darker lines, (2H, 3W) bool."""
    if name == "bricks":
        return (yy % period == 0) | ((xx + (yy // period % 2) * period) % (2 * period) == 0)
    if name == "tiles":
        return (yy % period == 0) | (xx % period == 0)
    if name == "panels":
        return xx % (3 * period) < 2
    if name == "plain":
        return np.zeros_like(yy, bool)
    raise ValueError(f"unknown wall texture {name!r}; known: bricks, tiles, panels, plain")


def sample_camera(
    rng: np.random.Generator, index: int, size: tuple[int, int], background: Background, illumination: Illumination
) -> Camera:
    """Camera `index` (0-based) of a domain with this background and illumination."""
    h, w = 2 * size[0], 3 * size[1]
    yy, xx = np.mgrid[0:h, 0:w]
    horizon = int(h * rng.uniform(0.3, 0.6))
    wall = rng.uniform(*background.wall) + rng.uniform(-background.wall_tint, background.wall_tint, 3)
    floor = rng.uniform(*background.floor) + rng.uniform(-background.floor_tint, background.floor_tint, 3)
    scene = np.where((yy < horizon)[..., None], wall, floor * (0.7 + 0.5 * (yy / h))[..., None])
    period = int(rng.integers(6, 16))
    lines = _texture(background.textures[rng.integers(len(background.textures))], yy, xx, period)
    scene = np.where((lines & (yy < horizon))[..., None], scene * 0.7, scene)
    canvas = Image.fromarray((scene * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(*background.clutter)):  # poles, signs, plants, windows
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        grey, tint = rng.uniform(40, 200), rng.uniform(-40, 40, 3) * (rng.random() < 0.4)
        draw.rectangle(
            [x0, y0, x0 + rng.integers(3, w // 5), y0 + rng.integers(3, h // 2)],
            fill=tuple(int(v) for v in np.clip(grey + tint, 0, 255)),
        )
    scene = np.asarray(canvas, np.float32) / 255 + rng.normal(0, 0.03, (h, w, 3)).astype(np.float32)
    cast = rng.uniform(*illumination.cast, 3)
    return Camera(
        scene=scene,
        views=rng.dirichlet([2.0, 2.0, 1.5, 1.5]),
        cast=cast / cast.mean() * np.array(illumination.tint),
        gain=float(rng.uniform(*illumination.gain)),
        blur=float(rng.uniform(0.3, 0.8)),
        noise=float(rng.uniform(0.01, 0.03)),
        low_res=index == LOW_RES_CAMERA,
        tone=illumination.tone_curve(),
    )


@dataclass(frozen=True)
class Shot:
    """One image of one person: camera, viewpoint, walking phase and placement in the box."""

    view: str  # front | back | left | right (direction the person walks to)
    phase: float
    amp: float
    place: Placement


def sample_shot(
    rng: np.random.Generator,
    ident: Identity,
    camera: Camera,
    size: tuple[int, int],
    misalignment: float,
    kind: str = "person",
) -> Shot:
    """A person (kind person), a false alarm beside a passer-by (distractor) or a badly cut box (junk)."""
    h, w = size
    view = ("front", "back", "left", "right")[rng.choice(4, p=camera.views)]
    if kind == "junk":  # a detector box that cuts the person badly: zoomed in and shifted
        hp = h * rng.uniform(1.3, 1.9)
        place = Placement(w / 2 + rng.uniform(-0.3, 0.3) * w, rng.uniform(-0.6, 0.05) * hp, hp)
    elif kind == "distractor":  # a false alarm overlapping a passer-by by a sliver
        hp = h * rng.uniform(0.7, 1.0)
        cx = w / 2 + rng.choice([-1, 1]) * rng.uniform(0.75, 1.0) * w
        place = Placement(cx, rng.uniform(0, 0.15) * h, hp)
    else:
        hp = h * 0.9 * ident.height * (1 + misalignment * rng.uniform(-0.2, 0.08))
        place = Placement(
            w / 2 + misalignment * rng.uniform(-0.15, 0.15) * w,
            (h - hp) / 2 + misalignment * rng.uniform(-0.1, 0.1) * h,
            hp,
        )
    return Shot(view, float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.2, 0.5)), place)
