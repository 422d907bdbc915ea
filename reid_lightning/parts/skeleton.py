"""Keypoint schemes -> one common skeleton, so one rasteriser serves every pose source.

Pose models and keypoint files number their joints differently (MediaPipe 33 landmarks, the
14-point LSP/CPM order of layumi/market1501_body_point, OpenPose's 18-point COCO order). Each
scheme here is the list of our joint names in the source's point order (None for points we do not
use), and `to_skeleton` turns a source's (N, 2) points into our (J, 2) array in JOINTS order.

Coordinates are continuous pixel coordinates (x right, y down) in which pixel column j spans
[j, j + 1): a 0-based pixel index k is the point k + 0.5. Missing joints are NaN.
Left and right are kept as the sources give them; the 7 body parts do not tell them apart.
"""

import numpy as np

JOINTS = (
    "head_top",
    "nose",
    "l_eye",
    "r_eye",
    "l_ear",
    "r_ear",
    "neck",
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    "l_hand",
    "r_hand",
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
    "l_foot",
    "r_foot",
)
INDEX = {name: i for i, name in enumerate(JOINTS)}

# MediaPipe Pose (BlazePose) 33 landmarks. The index fingertip stands for the hand, the foot index
# (toe tip) for the foot; inner/outer eye corners, mouth, pinky, thumb and heel are not used.
MEDIAPIPE_33 = (
    "nose",
    None,
    "l_eye",
    None,
    None,
    "r_eye",
    None,
    "l_ear",
    "r_ear",
    None,
    None,
    "l_shoulder",
    "r_shoulder",
    "l_elbow",
    "r_elbow",
    "l_wrist",
    "r_wrist",
    None,
    None,
    "l_hand",
    "r_hand",
    None,
    None,
    "l_hip",
    "r_hip",
    "l_knee",
    "r_knee",
    "l_ankle",
    "r_ankle",
    None,
    None,
    "l_foot",
    "r_foot",
)

# layumi/market1501_body_point: 14 points, head top and neck, then right arm, left arm, right leg,
# left leg (shoulder-elbow-wrist, hip-knee-ankle), as its MATLAB viewer draws them (1:2, 3:5, 6:8,
# 9:11, 12:14) and crops at point 1 (the top of the head).
LSP_14 = (
    "head_top",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
)

# OpenPose COCO 18 points, as in the Market-1501 pose CSVs of pose-transfer work.
OPENPOSE_18 = (
    "nose",
    "neck",
    "r_shoulder",
    "r_elbow",
    "r_wrist",
    "l_shoulder",
    "l_elbow",
    "l_wrist",
    "r_hip",
    "r_knee",
    "r_ankle",
    "l_hip",
    "l_knee",
    "l_ankle",
    "r_eye",
    "l_eye",
    "r_ear",
    "l_ear",
)

SCHEMES = {"mediapipe33": MEDIAPIPE_33, "lsp14": LSP_14, "openpose18": OPENPOSE_18}


def to_skeleton(points: np.ndarray, scheme: tuple[str | None, ...]) -> np.ndarray:
    """Source points (N, 2) in the scheme's order, NaN where missing -> our joints (J, 2)."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape != (len(scheme), 2):
        raise ValueError(
            f"keypoints have shape {points.shape}, but this scheme has {len(scheme)} points "
            f"of (x, y); expected ({len(scheme)}, 2)"
        )
    joints = np.full((len(JOINTS), 2), np.nan)
    for source, name in enumerate(scheme):
        if name is not None:
            joints[INDEX[name]] = points[source]
    return joints


def joint(joints: np.ndarray, name: str) -> np.ndarray | None:
    """The (x, y) of one joint, or None when it is missing."""
    point = joints[INDEX[name]]
    return None if np.isnan(point).any() else point


def mean_of(joints: np.ndarray, *names: str) -> np.ndarray | None:
    """Mean (x, y) of the named joints that are present, or None when none is."""
    present = [p for p in (joint(joints, n) for n in names) if p is not None]
    return np.mean(present, axis=0) if present else None
