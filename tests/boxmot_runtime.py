"""BoxMOT's own ReID runtime, installed beside the suite without touching it, and how its features compare.

`install_boxmot` puts boxmot==25.0.0 into a throwaway folder (`pip install --no-deps --target`): no torch,
no onnxruntime, nothing of the suite's environment is replaced; BoxMOT's other imports (opencv, filterpy,
gdown, ...) are already in the suite's environment. `boxmot_reid` imports its runtime from there and
makes sure it installs nothing at run time: BoxMOT 25 pins onnxruntime==1.24.3 and pip-installs it when
another version is importable; here the importable onnxruntime counts as satisfying the pin, and any
install attempt fails loudly. `compare` runs one exported file through `ReID(path, half=...)` on boxes of
a frame and compares its features with the FeatureExtractor's, row by row, as cosine after centring
(each set minus its mean over the crops, so the part all crops share does not hide a difference).
"""

import importlib
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

BOXMOT = "boxmot==25.0.0"
PEDESTRIANS = Path(__file__).parent / "fixtures" / "pedestrians" / "bounding_box_train"


def install_boxmot(folder: Path, timeout: int = 300) -> str | None:
    """Install BoxMOT (no dependencies) into `folder` unless there; None on success, else pip's last words."""
    if (folder / "boxmot" / "reid" / "core" / "runtime.py").is_file():
        return None
    folder.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--no-deps",
                "--no-compile",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(folder),
                BOXMOT,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"pip install {BOXMOT} took over {timeout} s"
    return None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()[-500:]


@contextmanager
def boxmot_reid(folder: Path) -> Iterator[type]:
    """BoxMOT's `ReID` class, imported from `folder`, unable to install packages while in use."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise RuntimeError("onnxruntime is not importable: BoxMOT would install its own")
    sys.path.insert(0, str(folder))
    try:
        runtime = importlib.import_module("boxmot.reid.core.runtime")
        onnx_backend = importlib.import_module("boxmot.reid.backends.onnx_backend")
        checks = importlib.import_module("boxmot.utils.checks")
        saved = (onnx_backend.requirement_satisfied, checks.RequirementsChecker.check_packages)

        def refuse(self, requirements, *args, **kwargs):
            raise AssertionError(f"BoxMOT tried to install {list(requirements)} at run time")

        onnx_backend.requirement_satisfied = lambda requirement: requirement.startswith("onnxruntime")
        checks.RequirementsChecker.check_packages = refuse
        try:
            yield runtime.ReID
        finally:
            onnx_backend.requirement_satisfied, checks.RequirementsChecker.check_packages = saved
    finally:
        sys.path.remove(str(folder))


def frame_and_boxes(box_size: tuple[int, int], scales: tuple[float, ...] = (1.0,)) -> tuple[np.ndarray, np.ndarray]:
    """A BGR uint8 frame holding the 24 pedestrian crops of tests/fixtures (from OpenCV's sample street video),
    each resized to `box_size` (H, W) times `scales` in turn, and their boxes (N, 4) x1, y1, x2, y2 in pixels."""
    crops = [Image.open(path).convert("RGB") for path in sorted(PEDESTRIANS.glob("*.jpg"))]
    pasted, x, y, row_height, width = [], 0, 0, 0, 8 * round(box_size[1] * max(scales) + 16)
    for index, crop in enumerate(crops):
        scale = scales[index % len(scales)]
        size = (round(box_size[1] * scale), round(box_size[0] * scale))  # PIL: (W, H)
        if x + size[0] + 5 > width:
            x, y, row_height = 0, y + row_height + 7, 0
        pasted.append((crop.resize(size, Image.Resampling.BICUBIC), x + 5, y + 5))
        x, row_height = x + size[0] + 11, max(row_height, size[1])
    frame = Image.new("RGB", (width, y + row_height + 12), (90, 100, 110))
    boxes = []
    for crop, left, top in pasted:
        frame.paste(crop, (left, top))
        boxes.append((left, top, left + crop.width, top + crop.height))
    return np.ascontiguousarray(np.asarray(frame)[:, :, ::-1]), np.asarray(boxes, dtype=np.float32)


def centred_cosine(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Row-wise cosine of the two (N, D) feature sets, each first L2-normalised and centred on its mean row."""

    def centred(features):
        features = features / np.linalg.norm(features, axis=1, keepdims=True)
        features = features - features.mean(axis=0, keepdims=True)
        return features / np.linalg.norm(features, axis=1, keepdims=True)

    return (centred(ours.astype(np.float64)) * centred(theirs.astype(np.float64))).sum(axis=1)


def compare(
    reid_class: type, path: Path, ours: np.ndarray, frame: np.ndarray, boxes: np.ndarray, half: bool
) -> tuple[str, np.ndarray | None]:
    """('runs', centred cosines per box) or ('fails: <error>', None) for one file through BoxMOT's ReID."""
    try:
        reid = reid_class(path, device="cpu", half=half)
        theirs = reid(frame, boxes)
    except Exception as err:  # what a BoxMOT user would see
        return f"fails: {type(err).__name__}: {str(err).splitlines()[0][:160] if str(err) else ''}", None
    if theirs.shape != ours.shape or not np.isfinite(theirs).all():
        return f"fails: features {theirs.shape}, finite {bool(np.isfinite(theirs).all())}", None
    return "runs", centred_cosine(ours, theirs)
