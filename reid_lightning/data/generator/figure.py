"""Drawing one person: body parts as filled shapes on a region canvas, so the part map is exact by construction.

A person is painted back to front (far arm and leg, bag, torso, near leg and arm, head) as region codes
(R_*: face, hair, torso, sleeves, hands, trousers, shoes, bag ...) on an (H, W) uint8 canvas with PIL's
ImageDraw. REGION_TO_PART then turns regions into the 7-class part map (0 background, 1 head, 2 torso,
3 upper arms, 4 forearms, 5 upper legs, 6 lower legs; a bag is background, its strap torso), and the
renderer turns them into colours. Poses: front, back and side views with a walking phase.
"""

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from reid_lightning.data.generator.identities import Identity

(
    R_BG,
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
) = range(13)
REGION_TO_PART = np.array([0, 1, 1, 2, 3, 4, 4, 2, 5, 6, 6, 0, 2], dtype=np.uint8)
UPPER_GARMENT = np.zeros(256, bool)
UPPER_GARMENT[[R_TORSO, R_UPPER_ARM, R_FOREARM]] = True


@dataclass(frozen=True)
class Placement:
    """Where the person stands in the box: centre x, top y and height, in pixels."""

    cx: float
    top: float
    height: float

    def at(self, u: float, v: float) -> tuple[float, float]:
        """Body coordinates (u across, v down, in body heights) -> pixel (x, y)."""
        return self.cx + u * self.height, self.top + v * self.height


def _capsule(draw: ImageDraw.ImageDraw, p: tuple[float, float], q: tuple[float, float], r: float, fill: int) -> None:
    (x0, y0), (x1, y1) = p, q
    n = math.hypot(x1 - x0, y1 - y0) or 1.0
    ox, oy = -(y1 - y0) / n * r, (x1 - x0) / n * r
    draw.polygon([(x0 + ox, y0 + oy), (x1 + ox, y1 + oy), (x1 - ox, y1 - oy), (x0 - ox, y0 - oy)], fill=fill)
    for x, y in (p, q):
        draw.ellipse([x - r, y - r, x + r, y + r], fill=fill)


def _limb(start: tuple[float, float], angle: float, length: float, facing: int) -> tuple[float, float]:
    """End point of a segment hanging from `start` at `angle` (radians, forward = + along `facing`)."""
    return start[0] + facing * math.sin(angle) * length, start[1] + math.cos(angle) * length


def draw_regions(
    ident: Identity, place: Placement, view: str, phase: float, amp: float, size: tuple[int, int]
) -> np.ndarray:
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
        draw.ellipse(
            [
                min(ankle[0], ankle[0] + toe) - 0.028 * hp,
                ankle[1] - 0.015 * hp,
                max(ankle[0], ankle[0] + toe) + 0.028 * hp,
                ankle[1] + 0.03 * hp,
            ],
            fill=R_SHOE,
        )

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
        draw.polygon(
            [
                at(-sw + lean, v_sh),
                at(sw + lean, v_sh),
                at(hw * 0.95, v_hip - 0.08),
                at(hw, v_hip - 0.02),
                at(-hw, v_hip - 0.02),
                at(-hw * 0.95, v_hip - 0.08),
            ],
            fill=R_TORSO,
        )
        draw.polygon(
            [at(-hw, v_hip - 0.025), at(hw, v_hip - 0.025), at(hw * 1.05, v_hip + 0.04), at(-hw * 1.05, v_hip + 0.04)],
            fill=R_PELVIS,
        )
        draw.rectangle([*at(-0.018, 0.12), *at(0.018, v_sh + 0.005)], fill=R_FACE)  # neck

    def head() -> None:
        rx, ry, cy = 0.047 * hp, 0.062 * hp, 0.072
        x, y = at(0.005 * facing if side else 0.0, cy)
        draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=R_HAIR if view == "back" else R_FACE)
        if side:  # hair on the top and back of the head
            hx = x - facing * 0.012 * hp
            draw.ellipse([hx - rx, y - ry - 0.008 * hp, hx + rx * 0.9, y + ry * 0.5], fill=R_HAIR)
            draw.ellipse(
                [x - rx * 0.8 + facing * 0.3 * rx, y - ry * 0.35, x + rx * 0.8 + facing * 0.3 * rx, y + ry], fill=R_FACE
            )
        elif view == "front":
            draw.chord([x - rx, y - ry - 0.006 * hp, x + rx, y + ry * 0.4], 180, 360, fill=R_HAIR)
        else:
            draw.rectangle([x - rx * 0.5, y + ry * 0.55, x + rx * 0.5, y + ry * 1.05], fill=R_FACE)

    def long_hair() -> None:
        draw.rectangle([*at(-0.05, 0.07), *at(0.05, 0.22)], fill=R_HAIR)

    def bag(front_layer: bool) -> None:
        if ident.bag == "backpack":
            if view == "back" and front_layer:
                draw.rounded_rectangle([*at(-0.075 * wf, 0.19), *at(0.075 * wf, 0.42)], radius=0.02 * hp, fill=R_BAG)
            elif view == "front" and front_layer:  # only the straps show
                for s in (-1, 1):
                    draw.line(
                        [at(s * 0.06 * wf, v_sh), at(s * 0.055 * wf, 0.36)],
                        fill=R_STRAP,
                        width=max(1, round(0.014 * hp)),
                    )
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
