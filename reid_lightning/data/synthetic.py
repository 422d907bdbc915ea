"""A synthetic Market-1501: little procedural pedestrians in Market's exact layout, with exact part maps.

Real Market-1501 cannot be downloaded on our machines, so tests and the default `python train.py`
run on this stand-in. It keeps what matters to re-ID:
- identity = appearance: clothing colours and patterns (stripes, checks, logo, two-tone sleeves),
  sleeve and trouser length, shoes, hair, skin, body proportions, an optional bag. Identities come
  in pairs that differ in only one or two attributes, so a model has to look at the whole body;
- camera = background scene, viewpoint habits, colour cast, exposure, blur, noise (camera 6 is
  low resolution like Market's), so appearance varies across cameras;
- per image: walking phase, viewpoint (front / back / side: logo, face and bag come and go) and a
  detector-like misalignment (scale and shift of the person in the box), so fixed horizontal
  stripes miss the body parts while the part maps follow them.
Every body part is drawn as a filled shape on a region canvas (PIL ImageDraw), so the 7-class part
map (0 background, 1 head, 2 torso, 3 upper arms, 4 forearms, 5 upper legs, 6 lower legs) is exact by
construction; a segmenter's mistakes (dropped, eroded or mislabelled parts) are then simulated on
the saved maps only. Names follow `PPPP_cCsS_FFFFFF_BB.jpg`, with pid 0 distractors and pid -1 junk in
the gallery. Every image has its own random stream, so the same seed gives byte-identical files.

    python -m reid_lightning.data.synthetic --root data/synthetic [--num-train-ids 100 ...] [--preview g.png]
"""

import argparse
import functools
import json
import math
import shutil
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy.ndimage import binary_erosion

from reid_lightning.data.datasets.market1501 import GALLERY_FOLDER, QUERY_FOLDER, TRAIN_FOLDER

MANIFEST = "synthetic_manifest.json"
PART_MAP_FOLDER = "part_maps"
GENERATOR_VERSION = 2  # bump when the drawing changes, so ensure_synthetic regenerates old sets
JPEG_QUALITY = 90


@dataclass(frozen=True)
class SyntheticConfig:
    """Every knob of the generator (each one is also a CLI flag, e.g. --num-train-ids)."""

    num_train_ids: int = 100
    num_test_ids: int = 100
    num_cameras: int = 6
    cameras_per_id: tuple[int, int] = (2, 4)           # min, max cameras an identity appears in
    train_images_per_camera: tuple[int, int] = (3, 6)  # min, max images per (train id, camera)
    query_images_per_camera: int = 1                   # per (test id, camera)
    gallery_images_per_camera: tuple[int, int] = (2, 5)
    num_distractors: int = 100                         # pid 0, gallery
    num_junk: int = 50                                 # pid -1, gallery (dropped by the parser)
    image_size: tuple[int, int] = (128, 64)            # H, W
    misalignment: float = 0.5                          # 0 = centred people, 1 = strong detector jitter
    part_drop_prob: float = 0.03                       # per part and image, saved maps only
    part_erode_prob: float = 0.1
    part_mislabel_prob: float = 0.03
    seed: int = 0

    def __post_init__(self) -> None:  # Hydra / JSON hand over lists: keep tuples (hashable, comparable)
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))

    def validate(self) -> None:
        def bad(what: str) -> ValueError:
            return ValueError(f"SyntheticConfig: {what}")
        if not 2 <= self.num_cameras <= 6:
            raise bad(f"num_cameras={self.num_cameras}, Market has 2..6 cameras")
        lo, hi = self.cameras_per_id
        if not 2 <= lo <= hi <= self.num_cameras:
            raise bad(f"cameras_per_id={self.cameras_per_id} must satisfy 2 <= min <= max <= num_cameras "
                      f"({self.num_cameras}): each identity must be seen by two cameras at least")
        for name in ("train_images_per_camera", "gallery_images_per_camera"):
            lo, hi = getattr(self, name)
            if not 1 <= lo <= hi:
                raise bad(f"{name}={(lo, hi)} must satisfy 1 <= min <= max")
        if self.num_train_ids < 1 or self.num_test_ids < 1 or self.num_train_ids + self.num_test_ids > 9999:
            raise bad("need 1 <= num_train_ids, num_test_ids and a total of at most 9999 (4-digit pids)")
        if min(self.query_images_per_camera, self.num_distractors, self.num_junk) < 0:
            raise bad("image counts must be >= 0")
        if self.image_size[0] < 32 or self.image_size[1] < 16:
            raise bad(f"image_size={self.image_size} is too small, use at least (32, 16)")
        for name in ("misalignment", "part_drop_prob", "part_erode_prob", "part_mislabel_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise bad(f"{name}={getattr(self, name)} must be in [0, 1]")


# ---------------------------------------------------------------- regions: what the canvas holds
(R_BG, R_FACE, R_HAIR, R_TORSO, R_UPPER_ARM, R_FOREARM, R_HAND, R_PELVIS, R_UPPER_LEG, R_LOWER_LEG,
 R_SHOE, R_BAG, R_STRAP) = range(13)
REGION_TO_PART = np.array([0, 1, 1, 2, 3, 4, 4, 2, 5, 6, 6, 0, 2], dtype=np.uint8)
UPPER_GARMENT = np.zeros(256, bool)
UPPER_GARMENT[[R_TORSO, R_UPPER_ARM, R_FOREARM]] = True
MISLABEL_AS = np.array([0, 2, 3, 4, 3, 6, 5], dtype=np.uint8)  # a segmenter's usual confusions

# Clothing colours (RGB in 0..1), dark and dull ones drawn more often, as in Market.
COLOURS = np.array([
    [.08, .08, .09], [.88, .88, .86], [.45, .45, .46], [.72, .10, .12], [.12, .20, .62], [.08, .10, .28],
    [.14, .46, .20], [.88, .78, .15], [.88, .45, .10], [.88, .52, .64], [.42, .20, .52], [.38, .24, .12],
    [.78, .68, .50], [.52, .52, .33], [.50, .68, .88], [.24, .34, .52]])
COLOUR_WEIGHTS = np.array([5, 3, 3, 1.5, 1.5, 2, 1, 1, 1, 1, 1, 1.5, 1.5, 1, 1, 2.5])
SKINS = np.array([[.96, .80, .68], [.87, .68, .52], [.70, .50, .36], [.45, .30, .20]])
HAIRS = np.array([[.05, .04, .04], [.20, .12, .07], [.42, .28, .14], [.78, .66, .40], [.55, .55, .55]])
PATTERNS = ("solid", "hstripes", "vstripes", "checks", "twotone", "logo")
BAGS = ("none", "backpack", "shoulder")


def _colour(rng: np.random.Generator, unlike: np.ndarray | None = None) -> np.ndarray:
    """A clothing colour; with `unlike`, one clearly different from it."""
    while True:
        colour = COLOURS[rng.choice(len(COLOURS), p=COLOUR_WEIGHTS / COLOUR_WEIGHTS.sum())]
        colour = np.clip(colour + rng.uniform(-0.05, 0.05, 3), 0, 1)
        if unlike is None or np.abs(colour - unlike).sum() > 0.4:
            return colour


@dataclass(frozen=True)
class Identity:
    """What stays the same across a person's images: clothes (RGB 0..1), hair, build, bag."""

    skin: np.ndarray
    hair: np.ndarray
    long_hair: bool
    upper: np.ndarray
    upper2: np.ndarray
    pattern: str
    stripe_freq: float     # stripes per body height
    long_sleeves: bool
    lower: np.ndarray
    long_trousers: bool
    shoes: np.ndarray
    bag: str
    bag_colour: np.ndarray
    bag_on_left: bool
    height: float          # fraction of the box height at zero misalignment
    width: float           # body width factor
    legs: float            # leg length as fraction of height


def sample_identity(rng: np.random.Generator) -> Identity:
    upper = _colour(rng)
    return Identity(
        skin=SKINS[rng.integers(len(SKINS))] * rng.uniform(0.95, 1.05), hair=HAIRS[rng.integers(len(HAIRS))],
        long_hair=bool(rng.random() < 0.3), upper=upper, upper2=_colour(rng, unlike=upper),
        pattern=PATTERNS[rng.choice(len(PATTERNS), p=[.4, .15, .1, .1, .12, .13])],
        stripe_freq=float(rng.uniform(6, 12)), long_sleeves=bool(rng.random() < 0.5), lower=_colour(rng),
        long_trousers=bool(rng.random() < 0.75), shoes=_colour(rng),
        bag=BAGS[rng.choice(3, p=[.5, .3, .2])], bag_colour=_colour(rng),
        bag_on_left=bool(rng.random() < 0.5), height=float(rng.uniform(0.9, 1.0)),
        width=float(rng.uniform(0.85, 1.2)), legs=float(rng.uniform(0.46, 0.52)))


def vary_identity(rng: np.random.Generator, base: Identity) -> Identity:
    """A look-alike of `base`: same upper colour, skin and most clothes; one or two visible changes."""
    other_hair = [h for h in HAIRS if not np.array_equal(h, base.hair)]
    changes = [
        lambda: {"lower": _colour(rng, unlike=base.lower)},
        lambda: {"pattern": rng.choice([p for p in PATTERNS if p != base.pattern]),
                 "upper2": _colour(rng, unlike=base.upper)},
        lambda: {"shoes": _colour(rng, unlike=base.shoes)},
        lambda: {"bag": rng.choice([b for b in BAGS if b != base.bag]), "bag_colour": _colour(rng)},
        lambda: {"hair": other_hair[rng.integers(len(other_hair))], "long_hair": not base.long_hair},
        lambda: {"long_sleeves": not base.long_sleeves},
        lambda: {"long_trousers": not base.long_trousers},
        lambda: {"width": float(np.clip(base.width + rng.choice([-1, 1]) * 0.25, 0.8, 1.3))},
    ]
    twin = base
    for index in rng.choice(len(changes), size=rng.integers(1, 3), replace=False):
        twin = replace(twin, **changes[index]())
    return replace(twin, pattern=str(twin.pattern), bag=str(twin.bag))  # numpy str_ -> str


# ---------------------------------------------------------------- cameras
@dataclass(frozen=True)
class Camera:
    """What a camera adds to every image it takes."""

    scene: np.ndarray        # (2H, 3W, 3) float background to crop from
    views: np.ndarray        # probabilities of front, back, facing left, facing right
    cast: np.ndarray         # (3,) colour gains
    gain: float
    blur: float
    noise: float
    low_res: bool


def sample_camera(rng: np.random.Generator, index: int, size: tuple[int, int]) -> Camera:
    h, w = 2 * size[0], 3 * size[1]
    yy, xx = np.mgrid[0:h, 0:w]
    horizon = int(h * rng.uniform(0.3, 0.6))
    wall = rng.uniform(0.3, 0.7) + rng.uniform(-0.08, 0.08, 3)  # muted: greys tinted a little
    floor = rng.uniform(0.25, 0.5) + rng.uniform(-0.05, 0.05, 3)
    scene = np.where((yy < horizon)[..., None], wall, floor * (0.7 + 0.5 * (yy / h))[..., None])
    period = int(rng.integers(6, 16))
    kind = rng.integers(4)  # bricks, tiles, panels, plain
    if kind == 0:
        lines = (yy % period == 0) | ((xx + (yy // period % 2) * period) % (2 * period) == 0)
    elif kind == 1:
        lines = (yy % period == 0) | (xx % period == 0)
    elif kind == 2:
        lines = xx % (3 * period) < 2
    else:
        lines = np.zeros_like(yy, bool)
    scene = np.where((lines & (yy < horizon))[..., None], scene * 0.7, scene)
    canvas = Image.fromarray((scene * 255).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    for _ in range(rng.integers(3, 8)):  # poles, signs, plants, windows
        x0, y0 = rng.integers(0, w), rng.integers(0, h)
        grey, tint = rng.uniform(40, 200), rng.uniform(-40, 40, 3) * (rng.random() < 0.4)
        draw.rectangle([x0, y0, x0 + rng.integers(3, w // 5), y0 + rng.integers(3, h // 2)],
                       fill=tuple(int(v) for v in np.clip(grey + tint, 0, 255)))
    scene = np.asarray(canvas, np.float32) / 255 + rng.normal(0, 0.03, (h, w, 3)).astype(np.float32)
    cast = rng.uniform(0.87, 1.13, 3)
    return Camera(scene=scene, views=rng.dirichlet([2.0, 2.0, 1.5, 1.5]), cast=cast / cast.mean(),
                  gain=float(rng.uniform(0.8, 1.1)), blur=float(rng.uniform(0.3, 0.8)),
                  noise=float(rng.uniform(0.01, 0.03)), low_res=index == 5)


# ---------------------------------------------------------------- drawing one person
@dataclass(frozen=True)
class Placement:
    """Where the person stands in the box: centre x, top y and height, in pixels."""

    cx: float
    top: float
    height: float

    def at(self, u: float, v: float) -> tuple[float, float]:
        """Body coordinates (u across, v down, in body heights) -> pixel (x, y)."""
        return self.cx + u * self.height, self.top + v * self.height


def _capsule(draw: ImageDraw.ImageDraw, p: tuple[float, float], q: tuple[float, float], r: float,
             fill: int) -> None:
    (x0, y0), (x1, y1) = p, q
    n = math.hypot(x1 - x0, y1 - y0) or 1.0
    ox, oy = -(y1 - y0) / n * r, (x1 - x0) / n * r
    draw.polygon([(x0 + ox, y0 + oy), (x1 + ox, y1 + oy), (x1 - ox, y1 - oy), (x0 - ox, y0 - oy)], fill=fill)
    for x, y in (p, q):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)


def _limb(start: tuple[float, float], angle: float, length: float, facing: int) -> tuple[float, float]:
    """End point of a segment hanging from `start` at `angle` (radians, forward = + along `facing`)."""
    return start[0] + facing * math.sin(angle) * length, start[1] + math.cos(angle) * length


def draw_regions(ident: Identity, place: Placement, view: str, phase: float, amp: float,
                 size: tuple[int, int]) -> np.ndarray:
    """Paint the person's regions (R_* codes) back to front on an (H, W) uint8 canvas."""
    canvas = Image.new("L", (size[1], size[0]), R_BG)
    draw = ImageDraw.Draw(canvas)
    hp, wf, at = place.height, ident.width, place.at
    side = view in ("left", "right")
    facing = -1 if view == "left" else 1
    v_sh, v_hip = 0.165, 1.0 - ident.legs
    sw, hw = (0.065 if side else 0.105) * wf, (0.065 if side else 0.085) * wf
    thigh = shin = (0.965 - v_hip) / 2 * hp
    upper_arm, forearm = 0.17 * hp, 0.15 * hp

    def leg(hip_u: float, angle: float, spread: float) -> None:
        hip = at(hip_u, v_hip)
        knee = _limb(hip, angle + spread, thigh, facing)
        shin_angle = (angle - 0.35 * max(0.0, -angle / max(amp, 1e-3)) - 0.05) if side else angle + spread
        ankle = _limb(knee, shin_angle, shin * (1 - (0.08 * abs(math.sin(phase)) if not side else 0)), facing)
        _capsule(draw, hip, knee, 0.038 * wf * hp, R_UPPER_LEG)
        _capsule(draw, knee, ankle, 0.03 * wf * hp, R_LOWER_LEG)
        toe = 0.035 * hp * facing if side else 0.0
        draw.ellipse([min(ankle[0], ankle[0] + toe) - 0.028 * hp, ankle[1] - 0.015 * hp,
                      max(ankle[0], ankle[0] + toe) + 0.028 * hp, ankle[1] + 0.03 * hp], fill=R_SHOE)

    def arm(shoulder_u: float, angle: float, bend: float, fore_scale: float) -> None:
        shoulder = at(shoulder_u, v_sh + 0.015)
        elbow = _limb(shoulder, angle, upper_arm, facing)
        wrist = _limb(elbow, angle + bend, forearm * fore_scale, facing)
        _capsule(draw, shoulder, elbow, 0.027 * wf * hp, R_UPPER_ARM)
        _capsule(draw, elbow, wrist, 0.022 * wf * hp, R_FOREARM)
        (x, y), r = wrist, 0.02 * hp
        draw.ellipse([x - r, y - r, x + r, y + 1.25 * r], fill=R_HAND)

    def torso() -> None:
        lean = 0.01 * facing if side else 0.0
        draw.polygon([at(-sw + lean, v_sh), at(sw + lean, v_sh), at(hw * 0.95, v_hip - 0.08),
                      at(hw, v_hip - 0.02), at(-hw, v_hip - 0.02), at(-hw * 0.95, v_hip - 0.08)],
                     fill=R_TORSO)
        draw.polygon([at(-hw, v_hip - 0.025), at(hw, v_hip - 0.025), at(hw * 1.05, v_hip + 0.04),
                      at(-hw * 1.05, v_hip + 0.04)], fill=R_PELVIS)
        draw.rectangle([*at(-0.018, 0.12), *at(0.018, v_sh + 0.005)], fill=R_FACE)  # neck

    def head() -> None:
        rx, ry, cy = 0.047 * hp, 0.062 * hp, 0.072
        x, y = at(0.005 * facing if side else 0.0, cy)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=R_HAIR if view == "back" else R_FACE)
        if side:  # hair on the top and back of the head
            hx = x - facing * 0.012 * hp
            draw.ellipse([hx - rx, y - ry - 0.008 * hp, hx + rx * 0.9, y + ry * 0.5], fill=R_HAIR)
            draw.ellipse([x - rx * 0.8 + facing * 0.3 * rx, y - ry * 0.35, x + rx * 0.8 + facing * 0.3 * rx,
                          y + ry], fill=R_FACE)
        elif view == "front":
            draw.chord([x - rx, y - ry - 0.006 * hp, x + rx, y + ry * 0.4], 180, 360, fill=R_HAIR)
        else:
            draw.rectangle([x - rx * 0.5, y + ry * 0.55, x + rx * 0.5, y + ry * 1.05], fill=R_FACE)

    def long_hair() -> None:
        draw.rectangle([*at(-0.05, 0.07), *at(0.05, 0.22)], fill=R_HAIR)

    def bag(front_layer: bool) -> None:
        if ident.bag == "backpack":
            if view == "back" and front_layer:
                draw.rounded_rectangle([*at(-0.075 * wf, 0.19), *at(0.075 * wf, 0.42)], radius=0.02 * hp,
                                       fill=R_BAG)
            elif view == "front" and front_layer:  # only the straps show
                for s in (-1, 1):
                    draw.line([at(s * 0.06 * wf, v_sh), at(s * 0.055 * wf, 0.36)], fill=R_STRAP,
                              width=max(1, round(0.014 * hp)))
            elif side and not front_layer:  # sticks out behind the back
                back = -facing * sw
                u0, u1 = sorted((back + facing * 0.02, back - facing * 0.06))
                draw.rounded_rectangle([*at(u0, 0.19), *at(u1, 0.41)], radius=0.015 * hp, fill=R_BAG)
        elif ident.bag == "shoulder" and front_layer:
            if side:  # seen only from the side it hangs on (facing right shows the left side)
                if ident.bag_on_left != (view == "right"):
                    return
                u, strap_u = 0.0, 0.0
            else:  # the person's left is the viewer's right when seen from the front
                u_side = 1 if ident.bag_on_left == (view == "front") else -1
                u, strap_u = u_side * (hw + 0.035), -u_side * 0.07 * wf
            draw.line([at(strap_u, v_sh), at(u, v_hip - 0.04)], fill=R_STRAP, width=max(1, round(0.01 * hp)))
            draw.rectangle([*at(u - 0.045, v_hip - 0.06), *at(u + 0.045, v_hip + 0.04)], fill=R_BAG)

    if ident.long_hair and view != "back":
        long_hair()
    if side:  # far arm, far leg, bag behind, torso, near leg, near arm, head
        swing = amp * math.sin(phase)
        arm(0.0, 0.9 * swing, 0.3 + 0.3 * max(0.0, swing), 1.0)
        leg(0.0, -swing, 0.0)
        bag(front_layer=False)
        torso()
        leg(0.0, swing, 0.0)
        arm(0.0, -0.9 * swing, 0.3 + 0.3 * max(0.0, -swing), 1.0)
    else:
        fore = 1 - 0.3 * abs(math.sin(phase))
        for s in (-1, 1):
            leg(s * 0.045 * wf, 0.0, s * 0.04)
        torso()
        for s in (-1, 1):  # arms hang slightly outwards, one forearm foreshortened by the swing
            arm(s * (sw - 0.02), s * 0.12, s * 0.04, fore if s > 0 else 1.0)
        if view == "back" and ident.long_hair:
            long_hair()
    bag(front_layer=True)
    head()
    return np.asarray(canvas)


@dataclass(frozen=True)
class Shot:
    """One image of one person: camera, viewpoint, walking phase and placement in the box."""

    view: str      # front | back | left | right (direction the person walks to)
    phase: float
    amp: float
    place: Placement


def sample_shot(rng: np.random.Generator, ident: Identity, camera: Camera, size: tuple[int, int],
                misalignment: float, kind: str = "person") -> Shot:
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
        place = Placement(w / 2 + misalignment * rng.uniform(-0.15, 0.15) * w,
                          (h - hp) / 2 + misalignment * rng.uniform(-0.1, 0.1) * h, hp)
    return Shot(view, float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(0.2, 0.5)), place)


@functools.lru_cache(maxsize=4)
def _grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size[0], 0:size[1]].astype(np.float32)
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


def _palette(ident: Identity) -> np.ndarray:
    """Colour of every region for this identity, (256, 3) float32."""
    palette = np.zeros((256, 3), np.float32)
    sleeve = ident.upper2 if ident.pattern == "twotone" else ident.upper
    palette[[R_FACE, R_HAIR, R_TORSO, R_UPPER_ARM, R_FOREARM, R_HAND, R_PELVIS, R_UPPER_LEG, R_LOWER_LEG,
             R_SHOE, R_BAG, R_STRAP]] = [
        ident.skin, ident.hair, ident.upper, sleeve, sleeve if ident.long_sleeves else ident.skin, ident.skin,
        ident.lower, ident.lower, ident.lower if ident.long_trousers else ident.skin, ident.shoes,
        ident.bag_colour, ident.bag_colour * 0.7]
    return palette


def render(ident: Identity | None, shot: Shot | None, camera: Camera, size: tuple[int, int],
           rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Person (or none) over the camera's scene -> image (H, W, 3) uint8, exact part map (H, W) uint8."""
    h, w = size
    oy, ox = rng.integers(0, camera.scene.shape[0] - h + 1), rng.integers(0, camera.scene.shape[1] - w + 1)
    image = camera.scene[oy:oy + h, ox:ox + w]  # (H, W, 3)
    regions = np.zeros(size, np.uint8)
    if ident is not None and shot is not None:
        regions = draw_regions(ident, shot.place, shot.view, shot.phase, shot.amp, size)
        colour = _palette(ident)[regions]  # (H, W, 3)
        yy, xx = _grid(size)
        bu = (xx - shot.place.cx) / shot.place.height  # body coordinates, (H, W)
        bv = (yy - shot.place.top) / shot.place.height
        pattern = _pattern(ident, bu, bv, shot.view)
        if pattern is not None:
            garment = UPPER_GARMENT[regions] & ((regions != R_FOREARM) | ident.long_sleeves)
            colour[pattern & garment] = ident.upper2
        shade = 1 - 0.35 * np.minimum((bu / (0.13 * ident.width)) ** 2, 1)  # a rounded body
        colour *= shade[..., None] * (1 + 0.03 * rng.standard_normal((h, w, 1), dtype=np.float32))
        image = np.where((regions > 0)[..., None], colour, image)
    light = camera.cast * camera.gain * rng.uniform(0.9, 1.1) * (1 + rng.uniform(-0.03, 0.03, 3))
    pil = Image.fromarray((np.clip(image * (255 * light).astype(np.float32), 0, 255)).astype(np.uint8))
    if camera.low_res:
        pil = pil.resize((w // 2, h // 2), Image.BILINEAR).resize((w, h), Image.BILINEAR)
    pil = pil.filter(ImageFilter.GaussianBlur(camera.blur * rng.uniform(0.8, 1.2)))
    noise = (camera.noise * 255) * rng.standard_normal((h, w, 3), dtype=np.float32)
    return np.clip(np.asarray(pil, np.float32) + noise, 0, 255).astype(np.uint8), REGION_TO_PART[regions]


def degrade_part_map(parts: np.ndarray, rng: np.random.Generator, drop: float, erode: float,
                     mislabel: float) -> np.ndarray:
    """Mimic a segmenter: each present part is dropped, eroded or mislabelled with the given probabilities."""
    out = parts.copy()
    for part in range(1, len(MISLABEL_AS)):
        mask = parts == part
        if not mask.any():
            continue
        u = rng.random()
        if u < drop:
            out[mask] = 0
        elif u < drop + erode:
            out[mask & ~binary_erosion(mask, iterations=int(rng.integers(1, 3)))] = 0
        elif u < drop + erode + mislabel:
            out[mask] = MISLABEL_AS[part]
    return out


# ---------------------------------------------------------------- the dataset
@dataclass(frozen=True)
class Job:
    """One file to write: folder, Market name, identity index (-1: none) and camera (0-based)."""

    folder: str
    name: str
    identity: int
    camid: int
    kind: str  # person | distractor | junk


def plan(config: SyntheticConfig) -> list[Job]:
    """Every file of the dataset, in a fixed order, with Market-1501 names."""
    rng = np.random.default_rng([config.seed, 0])
    n_train, total = config.num_train_ids, config.num_train_ids + config.num_test_ids
    pids = rng.choice(np.arange(1, max(1501, total) + 1), size=total, replace=False)
    pids = np.concatenate([np.sort(pids[:n_train]), np.sort(pids[n_train:])])

    def cameras() -> np.ndarray:
        lo, hi = config.cameras_per_id
        return np.sort(rng.choice(config.num_cameras, int(rng.integers(lo, hi + 1)), replace=False))

    def count(bounds: tuple[int, int]) -> int:
        return int(rng.integers(bounds[0], bounds[1] + 1))

    raw = []  # (folder, pid, identity, camid, kind)
    for i in range(n_train):
        for c in cameras():
            raw += [(TRAIN_FOLDER, pids[i], i, c, "person")] * count(config.train_images_per_camera)
    for i in range(n_train, total):
        for c in cameras():
            raw += [(QUERY_FOLDER, pids[i], i, c, "person")] * config.query_images_per_camera
            raw += [(GALLERY_FOLDER, pids[i], i, c, "person")] * count(config.gallery_images_per_camera)
    raw += [(GALLERY_FOLDER, 0, -1, rng.integers(config.num_cameras), "distractor")
            for _ in range(config.num_distractors)]
    raw += [(GALLERY_FOLDER, -1, int(rng.integers(n_train, total)), rng.integers(config.num_cameras), "junk")
            for _ in range(config.num_junk)]
    frame = np.zeros(config.num_cameras, np.int64)
    jobs = []
    for folder, pid, identity, camid, kind in raw:
        frame[camid] += rng.integers(20, 400)  # strictly increasing per camera: names are unique
        sequence = 1 + min(5, int(frame[camid]) // 40000)
        pid_text = "-1" if pid == -1 else f"{int(pid):04d}"
        name = f"{pid_text}_c{camid + 1}s{sequence}_{int(frame[camid]):06d}_{int(rng.integers(0, 8)):02d}.jpg"
        jobs.append(Job(folder, name, int(identity), int(camid), kind))
    return jobs


def make_identities(config: SyntheticConfig) -> list[Identity]:
    """Identities in look-alike pairs: 2k is drawn fresh, 2k+1 copies it with one or two changes."""
    identities = []
    for i in range(config.num_train_ids + config.num_test_ids):
        base = sample_identity(np.random.default_rng([config.seed, 4, i // 2]))
        twin_rng = np.random.default_rng([config.seed, 5, i // 2])
        identities.append(base if i % 2 == 0 else vary_identity(twin_rng, base))
    return identities


def _manifest_config(config: SyntheticConfig) -> dict:
    return json.loads(json.dumps(asdict(config)))  # tuples -> lists, as read back from disk


def _write_manifest(root: Path, config: SyntheticConfig, complete: bool, counts: dict[str, int]) -> None:
    manifest = {"synthetic": True, "generator": __name__, "version": GENERATOR_VERSION, "complete": complete,
                "config": _manifest_config(config), "counts": counts,
                "note": "Synthetic pedestrians in the Market-1501 layout, NOT the real Market-1501."}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")


def generate(root: str | Path, config: SyntheticConfig = SyntheticConfig()) -> dict[str, int]:
    """Write the whole dataset under `root`; returns the number of files per folder."""
    config.validate()
    root = Path(root)
    size = tuple(config.image_size)
    cameras = [sample_camera(np.random.default_rng([config.seed, 3, c]), c, size)
               for c in range(config.num_cameras)]
    identities = make_identities(config)
    jobs = plan(config)
    for folder in (TRAIN_FOLDER, QUERY_FOLDER, GALLERY_FOLDER):
        (root / folder).mkdir(parents=True, exist_ok=True)
        (root / PART_MAP_FOLDER / folder).mkdir(parents=True, exist_ok=True)
    _write_manifest(root, config, complete=False, counts={})
    for index, job in enumerate(jobs):
        rng = np.random.default_rng([config.seed, 1, index])
        camera = cameras[job.camid]
        if job.kind == "distractor":
            ident = sample_identity(rng) if rng.random() < 0.5 else None
        else:
            ident = identities[job.identity]
        shot = sample_shot(rng, ident, camera, size, config.misalignment, job.kind) if ident else None
        image, parts = render(ident, shot, camera, size, rng)
        Image.fromarray(image).save(root / job.folder / job.name, quality=JPEG_QUALITY)
        parts = degrade_part_map(parts, np.random.default_rng([config.seed, 2, index]), config.part_drop_prob,
                                 config.part_erode_prob, config.part_mislabel_prob)
        Image.fromarray(parts).save(root / PART_MAP_FOLDER / job.folder / f"{Path(job.name).stem}.png")
    counts = {f: sum(j.folder == f for j in jobs) for f in (TRAIN_FOLDER, QUERY_FOLDER, GALLERY_FOLDER)}
    (root / "README.txt").write_text(
        "SYNTHETIC data: procedurally drawn pedestrians in the Market-1501 layout, made by\n"
        f"`python -m {__name__}`. Not the real Market-1501. Config and counts: {MANIFEST}.\n"
        f"Part maps (7 classes, Pascal-Person-Part scheme) are in {PART_MAP_FOLDER}/<split>/<stem>.png.\n")
    _write_manifest(root, config, complete=True, counts=counts)
    return counts


def ensure_synthetic(root: str | Path, config: SyntheticConfig = SyntheticConfig()) -> Path:
    """Generate on first use, reuse if the manifest matches `config`, regenerate our own folder otherwise.

    A non-empty folder without our manifest is never written to (it may be user data). Call this from
    one process only (e.g. LightningDataModule.prepare_data).
    """
    root = Path(root).expanduser()
    manifest_path = root / MANIFEST
    if manifest_path.is_file():
        manifest = json.loads(manifest_path.read_text())
        if (manifest.get("complete") and manifest.get("version") == GENERATOR_VERSION
                and manifest.get("config") == _manifest_config(config)):
            return root
        for name in (TRAIN_FOLDER, QUERY_FOLDER, GALLERY_FOLDER, PART_MAP_FOLDER):  # only what we wrote
            shutil.rmtree(root / name, ignore_errors=True)
    elif root.exists() and any(root.iterdir()):
        raise FileExistsError(
            f"{root} is not empty and has no {MANIFEST}, so it is not a synthetic set made by {__name__}; "
            "refusing to write into it. Point data.root at an empty or new folder for synthetic data, "
            "or use data=market1501 if it holds the real dataset.")
    generate(root, config)
    return root


# ---------------------------------------------------------------- command line
PART_COLOURS = np.array([[0, 0, 0], [230, 60, 60], [60, 160, 230], [240, 200, 40], [250, 120, 20],
                         [60, 200, 90], [170, 80, 220]], np.uint8)


def save_preview(root: str | Path, out: str | Path, num: int = 24) -> Path:
    """A grid of `num` train images, each above its part map (colours: PART_COLOURS)."""
    root = Path(root)
    paths = sorted((root / TRAIN_FOLDER).glob("*.jpg"))
    paths = paths[:: max(1, len(paths) // num)]
    tiles = []
    for path in paths[:num]:
        image = np.asarray(Image.open(path).convert("RGB"))
        parts = np.asarray(Image.open(root / PART_MAP_FOLDER / TRAIN_FOLDER / f"{path.stem}.png"))
        tiles.append(np.concatenate([image, PART_COLOURS[np.minimum(parts, 6)]], axis=0))
    Image.fromarray(np.concatenate(tiles, axis=1)).save(out)
    return Path(out)


def _config_from_args(args: argparse.Namespace) -> SyntheticConfig:
    return SyntheticConfig(**{f.name: tuple(v) if isinstance(v := getattr(args, f.name), list) else v
                              for f in fields(SyntheticConfig)})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate a synthetic Market-1501-format set + part maps.")
    parser.add_argument("--root", type=Path, required=True, help="output folder (reused if up to date)")
    parser.add_argument("--preview", type=Path, help="also save a grid of train images + part maps")
    for f in fields(SyntheticConfig):
        flag = "--" + f.name.replace("_", "-")
        if isinstance(f.default, tuple):
            parser.add_argument(flag, type=type(f.default[0]), nargs=2, default=list(f.default),
                                metavar=("A", "B"), help=f"default {f.default[0]} {f.default[1]}")
        else:
            parser.add_argument(flag, type=type(f.default), default=f.default, help=f"default {f.default}")
    args = parser.parse_args(argv)
    config = _config_from_args(args)
    start = time.perf_counter()
    root = ensure_synthetic(args.root, config)
    counts = json.loads((root / MANIFEST).read_text())["counts"]
    print(f"synthetic Market-1501 at {root} ({time.perf_counter() - start:.1f} s): {counts}")
    if args.preview:
        print(f"preview: {save_preview(root, args.preview)}")


if __name__ == "__main__":
    main()
