"""Keypoints (and a person mask) -> a 7-part label map, by drawing the body as capsules.

The Pascal-Person-Part scheme (SPEC.md) has 0 background, 1 head, 2 torso, 3 upper arms,
4 forearms, 5 upper legs, 6 lower legs. From a skeleton (skeleton.JOINTS, NaN = missing) we draw:
head = a disc around the ears / face (or between head top and neck), torso = the shoulder-hip
quadrilateral with a margin plus a capsule along its midline, upper arms = shoulder->elbow,
forearms = elbow->wrist->hand, upper legs = hip->knee, lower legs = knee->ankle->foot. A capsule is
every pixel within a radius of a line segment. All sizes are fractions of the body scale, the
shoulder width (never less than `profile_ratio` x the torso length, since the shoulders overlap when
a person is seen from the side), see BodyShape. Later segments are drawn over earlier ones in the
order torso, legs, head, arms: arms hang in front of the torso in most pedestrian views.

With a person mask (from the pose model): only mask pixels keep a label, and mask pixels no segment
covers take the label of the nearest segment pixel if it is within `fill_reach` x scale (clothes are
wider than limbs), else they stay background. A mask that hardly overlaps the drawn segments
(less than `min_mask_overlap` of them) is wrong about this person and is ignored. Without a mask
(imported keypoints) the drawn segments are the map.

`split_by_height` is the fallback when no usable pose exists: rows of the person (mask) or of the
whole box are cut at fixed fractions of the body height into head, torso, upper and lower legs.
"""

from dataclasses import dataclass

import numpy as np
from matplotlib.path import Path as PolygonPath
from scipy import ndimage

from reid_lightning.parts.skeleton import joint, mean_of

BACKGROUND, HEAD, TORSO, UPPER_ARMS, FOREARMS, UPPER_LEGS, LOWER_LEGS = range(7)

# Fallback: a standing person's body height is cut at these fractions (head about 1/7.5 of it,
# crotch at about half, knees at about three quarters).
HEIGHT_SPLIT = ((HEAD, 0.13), (TORSO, 0.50), (UPPER_LEGS, 0.74), (LOWER_LEGS, 1.0))
# Without a mask the person is assumed to span these rows of the box (Market / HOG-style boxes).
BOX_TOP, BOX_BOTTOM = 0.04, 0.98


@dataclass(frozen=True)
class BodyShape:
    """Segment sizes as fractions of the body scale (about the shoulder width); radii of capsules."""

    head_radius: float = 0.36
    torso_margin: float = 0.12
    torso_depth: float = 0.3  # radius of the capsule along the torso's midline (keeps side views thick)
    upper_arm: float = 0.15
    forearm: float = 0.13
    upper_leg: float = 0.22
    lower_leg: float = 0.17
    hand_extension: float = 0.3  # beyond the wrist, as a fraction of the forearm, when no hand point
    foot_extension: float = 0.15  # beyond the ankle, as a fraction of the shin, when no foot point
    profile_ratio: float = 0.65  # scale >= this x torso length
    fill_reach: float = 1.0
    min_mask_overlap: float = 0.3


def body_scale(joints: np.ndarray, shape: BodyShape = BodyShape()) -> float | None:
    """Shoulder width, at least `profile_ratio` x torso length; None without shoulders and hips."""
    shoulders = mean_of(joints, "l_shoulder", "r_shoulder")
    hips = mean_of(joints, "l_hip", "r_hip")
    if shoulders is None or hips is None:
        return None
    ls, rs = joint(joints, "l_shoulder"), joint(joints, "r_shoulder")
    width = float(np.linalg.norm(ls - rs)) if ls is not None and rs is not None else 0.0
    return max(width, shape.profile_ratio * float(np.linalg.norm(shoulders - hips)))


def _grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates x, y, each (H, W)."""
    height, width = size
    return np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)


def _capsule(grid: tuple[np.ndarray, np.ndarray], a: np.ndarray, b: np.ndarray, radius: float) -> np.ndarray:
    """(H, W) bool: pixels within `radius` of the segment a-b."""
    x, y = grid
    ab = b - a
    length2 = float(ab @ ab)
    t = 0.0 if length2 == 0 else np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / length2, 0.0, 1.0)
    return (x - a[0] - t * ab[0]) ** 2 + (y - a[1] - t * ab[1]) ** 2 <= radius**2


def _polygon(grid: tuple[np.ndarray, np.ndarray], corners: list[np.ndarray]) -> np.ndarray:
    """(H, W) bool: pixels inside the polygon with these corners (in order)."""
    x, y = grid
    inside = PolygonPath(np.array(corners)).contains_points(np.stack([x.ravel(), y.ravel()], axis=1))
    return inside.reshape(x.shape)


def _head(joints: np.ndarray, scale: float, shape: BodyShape) -> tuple[np.ndarray, float] | None:
    """Centre and radius of the head disc."""
    top, neck = joint(joints, "head_top"), joint(joints, "neck")
    if top is not None and neck is not None:
        return top + 0.45 * (neck - top), 0.5 * float(np.linalg.norm(neck - top))
    centre = mean_of(joints, "l_ear", "r_ear")
    if centre is None:
        centre = mean_of(joints, "nose", "l_eye", "r_eye")
    return None if centre is None else (centre, shape.head_radius * scale)


def _limb_end(joints: np.ndarray, start: str, end: str, tip: str, extension: float) -> np.ndarray | None:
    """The hand / foot point, else the wrist / ankle pushed on along the limb by `extension`."""
    a, b, c = joint(joints, start), joint(joints, end), joint(joints, tip)
    if c is not None or b is None:
        return c
    return None if a is None else b + extension * (b - a)


def _draw_limb(
    labels: np.ndarray,
    grid: tuple[np.ndarray, np.ndarray],
    joints: np.ndarray,
    side: str,
    names: tuple[str, str, str, str],
    extension: float,
    radii: tuple[float, float],
    parts: tuple[int, int],
) -> None:
    """Paint one arm or leg in place: root-middle as `parts[0]`, middle-end(-tip) as `parts[1]`.

    names = (root, middle, end, tip), e.g. ("hip", "knee", "ankle", "foot"); the tip (hand / foot)
    extends the lower segment, or is guessed `extension` beyond the end along the limb.
    """
    root, middle, end = (joint(joints, f"{side}_{n}") for n in names[:3])
    tip = _limb_end(joints, f"{side}_{names[1]}", f"{side}_{names[2]}", f"{side}_{names[3]}", extension)
    if root is not None and middle is not None:
        labels[_capsule(grid, root, middle, radii[0])] = parts[0]
    if middle is not None and end is not None:
        lower = _capsule(grid, middle, end, radii[1])
        if tip is not None:
            lower |= _capsule(grid, end, tip, radii[1])
        labels[lower] = parts[1]


def draw_segments(joints: np.ndarray, size: tuple[int, int], shape: BodyShape = BodyShape()) -> np.ndarray | None:
    """Paint the body segments of an upright person, (H, W) uint8; None when the pose is unusable.

    Usable means: shoulders, hips and a head are present and in that order from top to bottom.
    """
    scale = body_scale(joints, shape)
    head = _head(joints, scale, shape) if scale else None
    if scale is None or scale <= 0 or head is None:
        return None
    shoulders, hips = mean_of(joints, "l_shoulder", "r_shoulder"), mean_of(joints, "l_hip", "r_hip")
    if not head[0][1] < shoulders[1] < hips[1]:
        return None
    grid = _grid(size)
    labels = np.zeros(size, dtype=np.uint8)

    corners = [joint(joints, n) for n in ("l_shoulder", "r_shoulder", "r_hip", "l_hip")]
    corners = [p for p in corners if p is not None]  # in order around the torso
    torso = _capsule(grid, shoulders, hips, shape.torso_depth * scale)
    if len(corners) >= 3:
        torso |= _polygon(grid, corners)
        for a, b in zip(corners, corners[1:] + corners[:1], strict=True):
            torso |= _capsule(grid, a, b, shape.torso_margin * scale)
    labels[torso] = TORSO

    for side in ("l", "r"):
        _draw_limb(
            labels,
            grid,
            joints,
            side,
            ("hip", "knee", "ankle", "foot"),
            shape.foot_extension,
            (shape.upper_leg * scale, shape.lower_leg * scale),
            (UPPER_LEGS, LOWER_LEGS),
        )

    centre, radius = head
    labels[_capsule(grid, centre, centre, radius)] = HEAD

    for side in ("l", "r"):
        _draw_limb(
            labels,
            grid,
            joints,
            side,
            ("shoulder", "elbow", "wrist", "hand"),
            shape.hand_extension,
            (shape.upper_arm * scale, shape.forearm * scale),
            (UPPER_ARMS, FOREARMS),
        )
    return labels


def rasterize(
    joints: np.ndarray, size: tuple[int, int], mask: np.ndarray | None = None, shape: BodyShape = BodyShape()
) -> np.ndarray | None:
    """Skeleton (J, 2) [+ person mask (H, W) bool] -> part map (H, W) uint8; None when unusable."""
    labels = draw_segments(joints, size, shape)
    if labels is None or mask is None:
        return labels
    mask = np.asarray(mask, dtype=bool)
    if mask.shape != tuple(size):
        raise ValueError(f"person mask has shape {mask.shape}, expected {tuple(size)} like the image")
    drawn = labels > 0
    if (drawn & mask).sum() < shape.min_mask_overlap * drawn.sum():
        return labels  # the mask misses this person: trust the skeleton alone
    labels = np.where(mask, labels, 0).astype(np.uint8)
    if labels.any():
        distance, (rows, cols) = ndimage.distance_transform_edt(labels == 0, return_indices=True)
        fill = mask & (labels == 0) & (distance <= shape.fill_reach * body_scale(joints, shape))
        labels[fill] = labels[rows[fill], cols[fill]]
    return labels


def split_by_height(size: tuple[int, int], mask: np.ndarray | None = None) -> np.ndarray:
    """Fallback map (H, W) uint8: the person's rows cut at HEIGHT_SPLIT fractions.

    The person is the mask (its top and bottom rows) when a non-empty mask is given, else the box
    rows BOX_TOP..BOX_BOTTOM over the full width (rows above count as head, below as lower legs).
    """
    height, width = size
    if mask is not None and np.asarray(mask).any():
        region = np.asarray(mask, dtype=bool)
        rows = np.flatnonzero(region.any(axis=1))
        top, bottom = rows[0], rows[-1] + 1
    else:
        region = np.ones(size, dtype=bool)
        top, bottom = BOX_TOP * height, BOX_BOTTOM * height
    relative = (np.arange(height) + 0.5 - top) / max(bottom - top, 1e-6)  # (H,)
    row_labels = np.full(height, HEIGHT_SPLIT[-1][0], dtype=np.uint8)
    for label, upper in reversed(HEIGHT_SPLIT):
        row_labels[relative < upper] = label
    return np.where(region, row_labels[:, None], 0).astype(np.uint8)
