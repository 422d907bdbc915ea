"""Part maps: loading with clear errors, the up-front existence check, label groupings."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_lightning.data.part_maps import (
    LIP_20_TO_PPP_7,
    PART_NAMES_7,
    PASCAL_PERSON_PART_7,
    LabelGrouping,
    check_part_maps,
    load_part_map,
)
from reid_lightning.data.samples import Sample


def _save(path: Path, labels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels).save(path)
    return path


def test_load_part_map_roundtrip(tmp_path):
    labels = (np.arange(8 * 4).reshape(8, 4) % 7).astype(np.uint8)
    out = load_part_map(_save(tmp_path / "m.png", labels), (8, 4), 7)
    assert out.dtype == np.uint8 and out.shape == (8, 4)
    np.testing.assert_array_equal(out, labels)


def test_load_part_map_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"missing\.png.*reid-parts generate"):
        load_part_map(tmp_path / "missing.png", (8, 4), 7)
    (tmp_path / "corrupt.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=r"corrupt\.png is not a readable PNG"):
        load_part_map(tmp_path / "corrupt.png", (8, 4), 7)
    small = _save(tmp_path / "small.png", np.zeros((4, 2), np.uint8))
    with pytest.raises(ValueError, match=r"small\.png has size \(4, 2\).*expected \(8, 4\).*img_01\.jpg"):
        load_part_map(small, (8, 4), 7, image_path="img_01.jpg")
    labels = np.zeros((8, 4), np.uint8)
    labels[2, 1] = 9
    with pytest.raises(ValueError, match=r"holds label 9, allowed 0\.\.6"):
        load_part_map(_save(tmp_path / "nine.png", labels), (8, 4), 7)
    with pytest.raises(ValueError, match=r"RGB image"):
        load_part_map(_save(tmp_path / "rgb.png", np.zeros((8, 4, 3), np.uint8)), (8, 4), 7)


def test_check_part_maps_reports_missing_in_one_error(tmp_path):
    samples = [Sample(Path(f"/img/000{i}_c1s1_000001_00.jpg"), i, 0) for i in range(5)]
    for s in samples[:2]:
        _save(tmp_path / "query" / f"{s.path.stem}.png", np.zeros((8, 4), np.uint8))
    with pytest.raises(FileNotFoundError) as err:
        check_part_maps(samples, tmp_path, "query")
    message = str(err.value)
    assert "3 of 5 part maps" in message and str(tmp_path / "query") in message
    assert "0002_c1s1_000001_00.png" in message and "0004_c1s1_000001_00.png" in message
    assert "reid-parts generate" in message and "data.part_maps=" in message
    paths = check_part_maps(samples[:2], tmp_path, "query")
    assert paths == [tmp_path / "query" / f"{s.path.stem}.png" for s in samples[:2]]


def test_label_grouping_hand_worked():
    grouping = LabelGrouping.from_groups({"body": [1, 3], "background": [0], "limbs": [2]}, 4)
    assert grouping.names == ("background", "body", "limbs") and grouping.num_parts == 3
    assert grouping.lookup.dtype == np.uint8 and grouping.lookup.shape == (256,)
    assert grouping.lookup[:4].tolist() == [0, 1, 2, 1] and grouping.lookup[4] == 255
    np.testing.assert_array_equal(grouping(np.array([[0, 1], [2, 3]], np.uint8)), [[0, 1], [2, 1]])
    with pytest.raises(ValueError, match=r"source label 7.*labels 0\.\.3"):
        grouping(np.array([[7]], np.uint8))


def test_label_grouping_errors():
    with pytest.raises(ValueError, match=r"lists source label 5.*0\.\.3"):
        LabelGrouping.from_groups({"a": [0, 1, 2, 3, 5]}, 4)
    with pytest.raises(ValueError, match=r"source label 1 is in both 'a' and 'b'"):
        LabelGrouping.from_groups({"a": [0, 1], "b": [1, 2, 3]}, 4)
    with pytest.raises(ValueError, match=r"source labels \[3\] belong to no group"):
        LabelGrouping.from_groups({"a": [0, 1], "b": [2]}, 4)
    grouping = LabelGrouping.from_groups({"a": [0, 1], "b": [2, 3]}, 4)
    with pytest.raises(ValueError, match=r"holds source label 4, .* 0\.\.3"):
        grouping(np.array([[0, 4]]))
    with pytest.raises(ValueError, match=r"holds source label -1, .* 0\.\.3"):  # not wrapped to lookup[255]
        grouping(np.array([[-1, 2]]))


def test_presets():
    assert PART_NAMES_7 == ("background", "head", "torso", "upper_arms", "forearms", "upper_legs", "lower_legs")
    assert PASCAL_PERSON_PART_7.names == PART_NAMES_7
    assert PASCAL_PERSON_PART_7.lookup[:7].tolist() == list(range(7))
    lip = LIP_20_TO_PPP_7
    assert lip.names == PART_NAMES_7 and lip.num_source_labels == 20
    # 0 bg, 1 hat, 2 hair, 3 glove, 4 sunglasses, 5 upper-clothes, 6 dress, 7 coat, 8 socks, 9 pants,
    # 10 jumpsuits, 11 scarf, 12 skirt, 13 face, 14/15 arms, 16/17 legs, 18/19 shoes
    assert lip.lookup[:20].tolist() == [0, 1, 1, 4, 1, 2, 2, 2, 6, 5, 2, 2, 5, 1, 4, 4, 6, 6, 6, 6]
    assert 3 not in lip.lookup[:20]  # LIP cannot see upper arms: the part stays empty
