"""The generator's bookkeeping with a stand-in pose model (no mediapipe): method choice, resume, summary."""

import json

import numpy as np
import pytest
from PIL import Image

from reid_lightning.parts import generate
from reid_lightning.parts.generate import FALLBACK_BOX, FALLBACK_MASK, POSE, generate_part_maps, make_part_map
from reid_lightning.parts.pose import PoseResult
from reid_lightning.parts.rasterize import split_by_height
from reid_lightning.parts.skeleton import INDEX, JOINTS

SIZE = (128, 64)
PERSON = dict(
    l_ear=(34, 18),
    r_ear=(30, 18),
    l_shoulder=(42, 30),
    r_shoulder=(22, 30),
    l_hip=(38, 60),
    r_hip=(26, 60),
    l_knee=(37, 90),
    r_knee=(27, 90),
    l_ankle=(37, 118),
    r_ankle=(27, 118),
)


def skeleton(**points) -> np.ndarray:
    joints = np.full((len(JOINTS), 2), np.nan)
    for name, xy in points.items():
        joints[INDEX[name]] = xy
    return joints


class StubModel:
    """Answers by the image's grey level: 0 no person, 1 person without hips (+ mask), else a person."""

    def __init__(self, config=None):
        self.closed = False

    def __call__(self, image):
        mask = np.zeros(image.shape[:2], bool)
        mask[10:110, 20:44] = True
        level = int(image[0, 0, 0]) // 100
        if level == 0:
            return PoseResult(None, None)
        if level == 1:
            return PoseResult(skeleton(l_ear=(34, 18), l_shoulder=(42, 30)), mask)
        return PoseResult(skeleton(**PERSON), mask)

    def close(self):
        self.closed = True


def grey(level: int) -> np.ndarray:
    return np.full((*SIZE, 3), level, np.uint8)


def test_make_part_map_picks_pose_then_mask_then_box():
    model = StubModel()
    labels, method = make_part_map(grey(250), model)
    assert method == POSE and labels[17, 31] == 1 and labels[75, 37] == 5
    labels, method = make_part_map(grey(150), model)
    mask = np.zeros(SIZE, bool)
    mask[10:110, 20:44] = True
    assert method == FALLBACK_MASK and (labels == split_by_height(SIZE, mask)).all()
    labels, method = make_part_map(grey(50), model)
    assert method == FALLBACK_BOX and (labels == split_by_height(SIZE)).all()


@pytest.fixture
def stub_root(tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "PoseModel", StubModel)
    root = tmp_path / "market"
    for split, levels in (("bounding_box_train", [250, 250, 150]), ("query", [50])):
        (root / split).mkdir(parents=True)
        for i, level in enumerate(levels):
            Image.fromarray(grey(level)).save(root / split / f"000{i + 1}_c1s1_00000{i}_01.png")
    return root


def test_summary_counts_methods_and_failures(stub_root):
    (stub_root / "query" / "0009_c2s1_000009_01.jpg").write_bytes(b"broken")
    summary = generate_part_maps(stub_root, workers=1, progress=False)
    assert (summary.images, summary.written, summary.pose, summary.fallback_mask, summary.fallback_box) == (
        5,
        4,
        2,
        1,
        1,
    )
    assert summary.fallback_rate == pytest.approx(0.5)
    assert len(summary.failures) == 1 and "0009_c2s1_000009_01.jpg" in summary.failures[0]["image"]
    saved = json.loads((stub_root / "part_maps" / "summary.json").read_text())
    assert saved["fallback_rate"] == 0.5 and saved["settings"]["pad"] == 0.25
    written = sorted(p.name for p in (stub_root / "part_maps" / "query").iterdir())
    assert written == ["0001_c1s1_000000_01.png"]
    assert "fallback rate 50.0%" in summary.text() and "failed:" in summary.text()


def test_resume_skips_existing_and_overwrite_redoes_all(stub_root):
    generate_part_maps(stub_root, workers=1, progress=False)
    target = stub_root / "part_maps" / "bounding_box_train" / "0001_c1s1_000000_01.png"
    Image.fromarray(np.zeros(SIZE, np.uint8)).save(target)  # a map made by other means stays
    again = generate_part_maps(stub_root, workers=1, progress=False)
    assert (again.written, again.skipped_existing, again.seconds_per_image) == (0, 4, 0.0)
    assert not np.asarray(Image.open(target)).any()
    redo = generate_part_maps(stub_root, workers=1, progress=False, overwrite=True)
    assert redo.written == 4 and np.asarray(Image.open(target)).any()
    only_query = generate_part_maps(stub_root, out=stub_root / "other", splits=["query"], progress=False)
    assert only_query.images == 1 and (stub_root / "other" / "query" / "0001_c1s1_000000_01.png").is_file()


def test_bad_roots_and_splits_are_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        generate_part_maps(tmp_path / "nowhere", progress=False)
    (tmp_path / "query").mkdir()
    with pytest.raises(FileNotFoundError, match="no images in"):
        generate_part_maps(tmp_path, progress=False)
    with pytest.raises(ValueError, match="unknown split 'train'"):
        generate_part_maps(tmp_path, splits=["train"], progress=False)
