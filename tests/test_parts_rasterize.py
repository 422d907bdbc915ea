"""Keypoints -> part map: segments on a hand-placed skeleton, body scale, the person mask, fallbacks."""

import numpy as np
import pytest

from reid_lightning.parts.rasterize import (
    BodyShape,
    body_scale,
    draw_segments,
    rasterize,
    split_by_height,
)
from reid_lightning.parts.skeleton import INDEX, JOINTS, LSP_14, MEDIAPIPE_33, OPENPOSE_18, to_skeleton

SIZE = (128, 64)


def skeleton(**points) -> np.ndarray:
    joints = np.full((len(JOINTS), 2), np.nan)
    for name, xy in points.items():
        joints[INDEX[name]] = xy
    return joints


# An upright person in a 128x64 crop: shoulders 20 px apart, torso 30 px long, so the scale is 20.
PERSON = dict(
    l_ear=(34, 18),
    r_ear=(30, 18),
    l_shoulder=(42, 30),
    r_shoulder=(22, 30),
    l_hip=(38, 60),
    r_hip=(26, 60),
    l_elbow=(46, 45),
    r_elbow=(18, 45),
    l_wrist=(48, 58),
    r_wrist=(16, 58),
    l_knee=(37, 90),
    r_knee=(27, 90),
    l_ankle=(37, 118),
    r_ankle=(27, 118),
)


def test_schemes_have_their_point_counts_and_map_names():
    assert (len(MEDIAPIPE_33), len(LSP_14), len(OPENPOSE_18)) == (33, 14, 18)
    points = np.arange(28, dtype=float).reshape(14, 2)
    joints = to_skeleton(points, LSP_14)
    assert joints.shape == (len(JOINTS), 2)
    assert joints[INDEX["head_top"]].tolist() == [0, 1] and joints[INDEX["l_ankle"]].tolist() == [26, 27]
    assert np.isnan(joints[INDEX["nose"]]).all()
    with pytest.raises(ValueError, match=r"expected \(18, 2\)"):
        to_skeleton(points, OPENPOSE_18)


def test_body_scale_is_shoulder_width_or_torso_length_in_profile():
    assert body_scale(skeleton(**PERSON)) == pytest.approx(20.0)
    profile = {**PERSON, "l_shoulder": (32, 30), "r_shoulder": (32, 30)}
    assert body_scale(skeleton(**profile)) == pytest.approx(0.65 * 30)
    assert body_scale(skeleton(l_shoulder=(1, 1), r_shoulder=(5, 1))) is None  # no hips


def test_each_segment_lands_on_its_body_part():
    labels = draw_segments(skeleton(**PERSON), SIZE)
    assert labels.shape == SIZE and labels.dtype == np.uint8
    expected = {  # (row, col) -> label at the middle of each segment
        (17, 31): 1,  # head disc around the ears
        (45, 32): 2,  # torso centre
        (37, 44): 3,  # left upper arm (shoulder 42,30 -> elbow 46,45)
        (51, 47): 4,  # left forearm (elbow 46,45 -> wrist 48,58)
        (75, 37): 5,  # left thigh (hip 38,60 -> knee 37,90)
        (104, 27): 6,  # right shin (knee 27,90 -> ankle 27,118)
        (0, 0): 0,
        (3, 32): 0,  # corner, above the head (disc radius 0.36 x 20 = 7.2)
        (110, 32): 0,  # between the shins (5 px from each, radius 0.17 x 20 = 3.4)
    }
    for (row, col), label in expected.items():
        assert labels[row, col] == label, (row, col)
    assert labels[120, 37] == 6  # the foot: the shin goes on 0.15 x its length below the ankle
    assert labels[61, 48] == 4  # the hand: the forearm goes on 0.3 x its length past the wrist


def test_unusable_poses_give_none():
    no_hips = {k: v for k, v in PERSON.items() if "hip" not in k}
    assert draw_segments(skeleton(**no_hips), SIZE) is None
    no_head = {k: v for k, v in PERSON.items() if "ear" not in k}
    assert draw_segments(skeleton(**no_head), SIZE) is None
    upside_down = {**PERSON, "l_ear": (34, 100), "r_ear": (30, 100)}
    assert draw_segments(skeleton(**upside_down), SIZE) is None
    assert rasterize(skeleton(**no_hips), SIZE, mask=np.ones(SIZE, bool)) is None


def test_head_from_head_top_and_neck():
    person = {k: v for k, v in PERSON.items() if "ear" not in k}
    labels = draw_segments(skeleton(head_top=(32, 6), neck=(32, 28), **person), SIZE)
    assert labels[15, 32] == 1 and labels[4, 32] == 0  # disc centre 6 + 0.45 x 22 = 15.9, radius 11


def test_mask_clips_and_fills_within_reach():
    joints = skeleton(**PERSON)
    drawn = draw_segments(joints, SIZE)
    full = rasterize(joints, SIZE, mask=np.ones(SIZE, bool))
    assert (full[drawn > 0] == drawn[drawn > 0]).all()  # segments kept where the mask is
    assert full[45, 60] in (3, 4)  # 12 px right of the arm, within reach (1.0 x scale = 20 px): filled
    assert full[0, 0] == 0  # beyond reach of every segment: background
    left = np.zeros(SIZE, bool)
    left[:, :32] = True
    clipped = rasterize(joints, SIZE, mask=left)
    assert not clipped[:, 32:].any() and (clipped[:, :32] > 0).sum() > 0
    stray = np.zeros(SIZE, bool)
    stray[:4, :4] = True  # overlaps no segment: the mask is ignored
    assert (rasterize(joints, SIZE, mask=stray) == drawn).all()
    with pytest.raises(ValueError, match="person mask has shape"):
        rasterize(joints, SIZE, mask=np.ones((64, 32), bool))


def test_smaller_fill_reach_leaves_far_mask_pixels_empty():
    joints = skeleton(**PERSON)
    near = rasterize(joints, SIZE, mask=np.ones(SIZE, bool), shape=BodyShape(fill_reach=0.1))
    assert near[45, 60] == 0


def test_split_by_height_of_a_mask_has_exact_rows():
    mask = np.zeros(SIZE, bool)
    mask[10:110, 20:44] = True  # a 100-row person
    labels = split_by_height(SIZE, mask)
    column = labels[:, 30]
    assert (column[:10] == 0).all() and (column[110:] == 0).all()
    assert (column[10:23] == 1).all() and (column[23:60] == 2).all()  # 13 % head, torso to 50 %
    assert (column[60:84] == 5).all() and (column[84:110] == 6).all()  # thighs to 74 %, shins below
    assert not labels[:, :20].any() and not labels[:, 44:].any()


def test_split_by_height_of_the_box_covers_every_pixel():
    labels = split_by_height(SIZE)
    assert (labels > 0).all() and (labels == labels[:, :1]).all()  # full width, by row
    # person rows 5.12..125.44: head while (row + 0.5 - 5.12) / 120.32 < 0.13, i.e. rows 0..20
    assert labels[20, 0] == 1 and labels[21, 0] == 2 and labels[127, 0] == 6
    assert [label for label in dict.fromkeys(labels[:, 0].tolist())] == [1, 2, 5, 6]
