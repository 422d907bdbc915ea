"""The offline pose model: MediaPipe's legacy Pose solution -> our skeleton and a person mask.

MediaPipe 0.10.14 (the `parts` extra) ships its pose detector and the "full" landmark model inside
the wheel, so it runs on CPU with no download; `model_complexity=1` is the only setting that does
(0 and 2 fetch their models from the internet on first use, which our machines cannot). Re-ID crops
are small (128x64) and the person fills them top to bottom; the detector finds people more reliably
with a border around them, so the crop is upscaled and padded (edge pixels repeated) before the
model sees it, and the landmarks and mask are mapped back to the crop.
"""

import contextlib
import os
import sys
import warnings
from dataclasses import dataclass

import numpy as np

from reid_lightning.data.market_layout import MARKET_IMAGE_SIZE
from reid_lightning.parts.skeleton import MEDIAPIPE_33, to_skeleton

INSTALL_HINT = "install the part-map extra: pip install 'reid-lightning[parts]' (mediapipe==0.10.14)"


@dataclass(frozen=True)
class PoseConfig:
    upscale: float = 2.0  # resize factor before the model
    pad: float = 0.25  # border added on every side, as a fraction of the upscaled crop's height
    min_visibility: float = 0.3  # landmarks MediaPipe deems less visible count as missing
    mask_threshold: float = 0.5  # segmentation probability above which a pixel is the person
    min_detection_confidence: float = 0.5


@dataclass
class PoseResult:
    joints: np.ndarray | None  # (J, 2) skeleton in crop pixels, NaN = missing; None = no person found
    mask: np.ndarray | None  # (H, W) bool person mask; None = no person found


@contextlib.contextmanager
def native_stderr_silenced():
    """Send file descriptor 2 to /dev/null: MediaPipe's C++ start-up chatter (TFLite delegate, absl
    warnings) bypasses Python's sys.stderr. Used only around model start-up, never around real work."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_mediapipe():
    """Import mediapipe (quiet about a protobuf deprecation warning), or explain how to install it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import mediapipe
    except ImportError as err:
        raise ImportError(f"the part-map generator needs mediapipe ({err}); {INSTALL_HINT}") from err
    return mediapipe


class PoseModel:
    """One MediaPipe Pose instance (create one per process); call it on RGB uint8 crops (H, W, 3)."""

    def __init__(self, config: PoseConfig = PoseConfig()):
        import cv2  # installed with mediapipe (opencv-contrib-python)

        self.cv2, self.config = cv2, config
        mediapipe = import_mediapipe()
        with native_stderr_silenced():
            self.pose = mediapipe.solutions.pose.Pose(
                static_image_mode=True,
                model_complexity=1,
                enable_segmentation=True,
                min_detection_confidence=config.min_detection_confidence,
            )
            self(np.zeros((*MARKET_IMAGE_SIZE, 3), np.uint8))  # warm-up: the graph starts (and logs) on first use

    def __call__(self, image: np.ndarray) -> PoseResult:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"pose model expects an RGB uint8 image (H, W, 3), got {image.dtype} {image.shape}")
        height, width = image.shape[:2]
        cfg, cv2 = self.config, self.cv2
        big = cv2.resize(image, None, fx=cfg.upscale, fy=cfg.upscale, interpolation=cv2.INTER_CUBIC)
        pad = int(round(cfg.pad * big.shape[0]))
        framed = cv2.copyMakeBorder(big, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = self.pose.process(framed)
        if result.pose_landmarks is None:
            return PoseResult(None, None)
        framed_h, framed_w = framed.shape[:2]
        points = np.array(
            [(lm.x * framed_w, lm.y * framed_h, lm.visibility) for lm in result.pose_landmarks.landmark]
        )  # (33, 3) in framed pixels
        xy = (points[:, :2] - pad) / cfg.upscale  # (33, 2) in crop pixels
        xy[points[:, 2] < cfg.min_visibility] = np.nan
        mask = None
        if result.segmentation_mask is not None:
            probability = result.segmentation_mask[pad : pad + big.shape[0], pad : pad + big.shape[1]]
            probability = cv2.resize(probability, (width, height), interpolation=cv2.INTER_AREA)
            mask = probability > cfg.mask_threshold
        return PoseResult(to_skeleton(xy, MEDIAPIPE_33), mask)

    def close(self) -> None:
        self.pose.close()
