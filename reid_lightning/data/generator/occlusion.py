"""Occluders: something in front of the person (an object or another pedestrian) that hides part of the body.

In a share of query and gallery images (SyntheticConfig.occlusion) an occluder is drawn over the person,
and the person's part map turns to background (0) wherever it is: the map says what is hidden, as a
visibility-aware head needs. Two kinds:
- box: a low object in front of the legs (bin, barrier, bench) or a pillar / door edge on one side
  that reaches past the body's centre line;
- pedestrian: another person (a fresh identity of the domain's palette), nearer to the camera, so a
  little larger and lower in the box, standing to one side and overlapping the person.
An occluder hides between about 15% and 80% of the person's part pixels. Occluders draw from their own
random stream, so an occluded image differs from its unoccluded version only where the occluder is.
"""

from dataclasses import dataclass

import numpy as np

from reid_lightning.data.generator.cameras import Camera, Shot
from reid_lightning.data.generator.domains import Palette
from reid_lightning.data.generator.figure import Placement
from reid_lightning.data.generator.identities import sample_identity
from reid_lightning.data.generator.paint import paint_person, pixel_grid

MIN_HIDDEN = 0.15  # a pedestrian occluder moves closer until it hides at least this share of the body


@dataclass(frozen=True)
class Occluder:
    """What is drawn in front of the person: where, and in which colours."""

    kind: str  # box | pedestrian
    mask: np.ndarray  # (H, W) bool: pixels it hides
    colour: np.ndarray  # (H, W, 3) float32 in 0..1 (used where mask)


def _box(rng: np.random.Generator, place: Placement, size: tuple[int, int]) -> Occluder:
    """A low object over the legs, or a full-height pillar from one image side past the body's centre."""
    h, w = size
    yy, xx = pixel_grid(size)
    if rng.random() < 0.5:  # low object: its top between the hips and the knees, wider than the legs
        top = min(place.top + rng.uniform(0.5, 0.75) * place.height, 0.85 * h)
        x0 = place.cx - rng.uniform(0.15, 0.6) * place.height
        x1 = place.cx + rng.uniform(0.15, 0.6) * place.height
        mask = (yy >= top) & (xx >= x0) & (xx <= x1)
    else:  # pillar: from the image side to a little past (or short of) the body's centre line
        side = rng.choice([-1, 1])
        edge = place.cx + side * rng.uniform(-0.03, 0.03) * place.height
        mask = xx >= edge if side > 0 else xx <= edge
    base = np.clip(rng.uniform(0.15, 0.75) + rng.uniform(-0.1, 0.1, 3), 0, 1).astype(np.float32)
    colour = base * (0.8 + 0.3 * yy / h)[..., None]  # (H, W, 3): lit from above
    return Occluder("box", mask, colour.astype(np.float32))


def _pedestrian(
    rng: np.random.Generator, shot: Shot, camera: Camera, size: tuple[int, int], palette: Palette, body: np.ndarray
) -> Occluder:
    """Another person nearer to the camera, beside the person; moved closer until it hides part of the body."""
    ident = sample_identity(rng, palette)
    place = shot.place
    height = place.height * rng.uniform(1.0, 1.2)
    top = place.top + rng.uniform(0.0, 0.15) * place.height
    offset = rng.choice([-1, 1]) * rng.uniform(0.08, 0.2) * place.height
    view = ("front", "back", "left", "right")[rng.choice(4, p=camera.views)]
    phase, amp = float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.2, 0.5))
    for scale in (1.0, 0.5, 0.25, 0.0):  # closer until it hides enough of the body (in line, it always does)
        near = Shot(view, phase, amp, Placement(place.cx + scale * offset, top, height))
        colour, regions = paint_person(ident, near, size, rng)
        if (regions > 0)[body].sum() >= MIN_HIDDEN * body.sum():
            break
    return Occluder("pedestrian", regions > 0, colour)


def sample_occluder(
    rng: np.random.Generator,
    kind: str,
    shot: Shot,
    camera: Camera,
    size: tuple[int, int],
    palette: Palette,
    body: np.ndarray,
) -> Occluder:
    """An occluder of `kind` (box | pedestrian) in front of the person whose part pixels are `body` (H, W)."""
    if kind == "box":
        return _box(rng, shot.place, size)
    if kind == "pedestrian":
        return _pedestrian(rng, shot, camera, size, palette, body)
    raise ValueError(f"occluder kind {kind!r} is unknown; choose box or pedestrian")


def pick_occluder(rng: np.random.Generator, share: float, kinds: str) -> str | None:
    """Which occluder an occludable image gets: None (with probability 1 - share), box or pedestrian."""
    if rng.random() >= share:
        return None
    return ("box", "pedestrian")[int(rng.random() < 0.5)] if kinds == "both" else kinds
