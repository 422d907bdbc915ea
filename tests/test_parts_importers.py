"""Importers: label maps (ppp7 as is, lip20 grouped) and keypoint files (layumi .mat, OpenPose CSV)."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_lightning.parts.import_keypoints import import_keypoints, read_layumi_mat, read_openpose_csv
from reid_lightning.parts.import_maps import import_label_maps

H, W = 128, 64
QUERY = ["0001_c1s1_000101_01.jpg", "0002_c2s1_000201_01.jpg"]
GALLERY = ["0001_c3s1_000301_01.jpg"]


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "market"
    for split, names in (("query", QUERY), ("bounding_box_test", GALLERY)):
        (root / split).mkdir(parents=True)
        for name in names:
            Image.fromarray(np.full((H, W, 3), 120, np.uint8)).save(root / split / name)
    return root


def read(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        assert img.mode == "L"
        return np.asarray(img)


# ---------------------------------------------------------------- label maps


def test_ppp7_maps_are_copied_from_split_folders(tmp_path):
    root, src = make_root(tmp_path), tmp_path / "cdcl"
    (src / "query").mkdir(parents=True)
    pattern = (np.arange(H * W).reshape(H, W) % 7).astype(np.uint8)
    for name in QUERY:
        Image.fromarray(pattern).save(src / "query" / (Path(name).stem + ".png"))
    summary = import_label_maps(src, root, scheme="ppp7")
    assert (summary.images, summary.written, summary.missing) == (3, 2, [GALLERY[0]])
    assert (read(root / "part_maps" / "query" / "0001_c1s1_000101_01.png") == pattern).all()
    assert "fill them with `reid-parts generate`" in summary.text()
    again = import_label_maps(src, root, scheme="ppp7")
    assert (again.written, again.skipped_existing) == (0, 2)


def test_lip20_maps_are_grouped_into_parts_from_a_flat_folder(tmp_path):
    root, src = make_root(tmp_path), tmp_path / "lip"
    src.mkdir()
    lip = np.zeros((H, W), np.uint8)
    # background, hair, face, upper clothes, coat, right arm, pants, skirt, left shoe, socks
    for row, label in enumerate([0, 2, 13, 5, 7, 15, 9, 12, 18, 8]):
        lip[row] = label
    Image.fromarray(lip, mode="L").convert("P").save(src / (Path(GALLERY[0]).stem + ".png"))  # palette PNG
    summary = import_label_maps(src, root, scheme="lip20", splits=["bounding_box_test"])
    assert summary.written == 1
    parts = read(root / "part_maps" / "bounding_box_test" / (Path(GALLERY[0]).stem + ".png"))
    assert parts[:10, 0].tolist() == [0, 1, 1, 2, 2, 4, 5, 5, 6, 6]


def test_label_map_errors_name_the_file_and_the_fix(tmp_path):
    root, src = make_root(tmp_path), tmp_path / "maps"
    src.mkdir()
    target = src / (Path(GALLERY[0]).stem + ".png")
    Image.fromarray(np.ones((64, 32), np.uint8)).save(target)
    with pytest.raises(ValueError, match=r"has size \(64, 32\).*--resize"):
        import_label_maps(src, root, splits=["bounding_box_test"])
    summary = import_label_maps(src, root, splits=["bounding_box_test"], resize=True)
    assert summary.written == 1
    assert read(root / "part_maps" / "bounding_box_test" / target.name).shape == (H, W)

    Image.fromarray(np.full((H, W), 9, np.uint8)).save(target)
    with pytest.raises(ValueError, match=r"holds label 9.*labels 0..6"):
        import_label_maps(src, root, splits=["bounding_box_test"], overwrite=True)
    colour = np.zeros((H, W, 3), np.uint8)
    colour[..., 0] = 200
    Image.fromarray(colour).save(target)
    with pytest.raises(ValueError, match="colour rendering"):
        import_label_maps(src, root, splits=["bounding_box_test"], overwrite=True)
    with pytest.raises(FileNotFoundError, match="no label map"):
        import_label_maps(src, root, splits=["query"])
    with pytest.raises(ValueError, match="unknown label scheme"):
        import_label_maps(src, root, scheme="coco")


# ---------------------------------------------------------------- keypoints

# 14 points (LSP order: head top, neck, right arm, left arm, right leg, left leg) of an upright
# person, in MATLAB's 1-based pixel coordinates (x, y).
LSP_PERSON = np.array(
    [
        (32.5, 7),
        (32.5, 28),  # head top, neck
        (22.5, 30),
        (18.5, 45),
        (16.5, 58),  # right shoulder, elbow, wrist
        (42.5, 30),
        (46.5, 45),
        (48.5, 58),  # left
        (26.5, 60),
        (27.5, 90),
        (27.5, 118),  # right hip, knee, ankle
        (38.5, 60),
        (37.5, 90),
        (37.5, 118),  # left
    ]
)


def matlab_pp(people: list[np.ndarray]) -> np.ndarray:
    """MATLAB's 28 x N `pp`: per column x1..x14 then y1..y14."""
    return np.stack([np.concatenate([p[:, 0], p[:, 1]]) for p in people], axis=1)


def write_mat_v73(path: Path, pp: np.ndarray) -> None:
    """A MATLAB v7.3 file as MATLAB writes it: HDF5 with a 512-byte user block, arrays transposed."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as mat:
        mat.create_dataset("pp", data=pp.T)  # HDF5 holds MATLAB's 28 x N array as N x 28


def check_upright(labels: np.ndarray) -> None:
    rows = np.arange(H)[:, None].repeat(W, axis=1)
    head, torso, legs = (rows[np.isin(labels, parts)].mean() for parts in ([1], [2], [5, 6]))
    assert head < torso < legs
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4, 5, 6}


def test_layumi_v73_mat_rows_follow_sorted_file_names(tmp_path):
    root = make_root(tmp_path)
    src = tmp_path / "market1501_14point_query.mat"
    write_mat_v73(src, matlab_pp([LSP_PERSON, np.zeros((14, 2))]))  # second image: no keypoints
    points = read_layumi_mat(src)
    assert points.shape == (2, 14, 2) and points[0, 0].tolist() == [32.0, 6.5]  # 1-based -> centre
    assert np.isnan(points[1]).all()
    summary = import_keypoints("layumi-mat", src, root, split="query")
    assert (summary.written, summary.fallback_box) == (2, 1)
    first = read(root / "part_maps" / "query" / "0001_c1s1_000101_01.png")
    check_upright(first)
    assert first[15, 32] == 1 and first[3, 32] == 0  # head between head top and neck
    second = read(root / "part_maps" / "query" / "0002_c2s1_000201_01.png")
    assert (second > 0).all()  # height-split fallback over the whole box


def test_layumi_older_mat_reads_the_same(tmp_path):
    from scipy.io import savemat

    src_v5, src_v73 = tmp_path / "v5.mat", tmp_path / "v73.mat"
    pp = matlab_pp([LSP_PERSON, LSP_PERSON + 1])
    savemat(src_v5, {"pp": pp})
    write_mat_v73(src_v73, pp)
    np.testing.assert_array_equal(read_layumi_mat(src_v5), read_layumi_mat(src_v73))


def test_layumi_errors(tmp_path):
    root = make_root(tmp_path)
    src = tmp_path / "market1501_14point_gallery.mat"
    write_mat_v73(src, matlab_pp([LSP_PERSON, LSP_PERSON]))
    with pytest.raises(ValueError, match="keypoints of 2 images but split bounding_box_test has 1"):
        import_keypoints("layumi-mat", src, root, split="bounding_box_test")
    with pytest.raises(ValueError, match="pass --split"):
        import_keypoints("layumi-mat", src, root)
    with pytest.raises(ValueError, match="unknown split 'train'"):
        import_keypoints("layumi-mat", src, root, split="train")
    with pytest.raises(ValueError, match="unknown keypoint format"):
        import_keypoints("coco-json", src, root)
    wrong = tmp_path / "wrong.mat"
    write_mat_v73(wrong, np.zeros((30, 2)))
    with pytest.raises(ValueError, match="expected 28 x N"):
        read_layumi_mat(wrong)


# OpenPose 18 (COCO order) of the same person, 0-based pixels; -1 = missing.
OPENPOSE_PERSON = {
    0: (32, 17),
    1: (32, 29),
    2: (22, 30),
    3: (18, 45),
    4: (16, 58),
    5: (42, 30),
    6: (46, 45),
    7: (48, 58),
    8: (26, 60),
    9: (27, 90),
    10: (27, 118),
    11: (38, 60),
    12: (37, 90),
    13: (37, 118),
    14: (30, 15),
    15: (34, 15),
    16: (29, 17),
    17: (35, 17),
}


def csv_line(name: str, points: dict[int, tuple[int, int]]) -> str:
    xs = [points.get(i, (-1, -1))[0] for i in range(18)]
    ys = [points.get(i, (-1, -1))[1] for i in range(18)]
    return f"{name}: {ys}: {xs}"


def test_openpose_csv_matches_images_by_name(tmp_path):
    root = make_root(tmp_path)
    src = tmp_path / "market-annotation-test.csv"
    lines = [
        "name:keypoints_y:keypoints_x",
        csv_line(QUERY[0], OPENPOSE_PERSON),
        csv_line(GALLERY[0], {0: (32, 17)}),
        csv_line("9999_c1s1_000001_01.jpg", OPENPOSE_PERSON),
    ]
    src.write_text("\n".join(lines) + "\n")
    table = read_openpose_csv(src)
    assert table[QUERY[0]][0].tolist() == [32.5, 17.5] and np.isnan(table[GALLERY[0]][1]).all()
    summary = import_keypoints("openpose-csv", src, root)
    assert (summary.images, summary.written, summary.fallback_box, summary.missing) == (3, 2, 1, [QUERY[1]])
    check_upright(read(root / "part_maps" / "query" / (Path(QUERY[0]).stem + ".png")))
    only_query = import_keypoints("openpose-csv", src, root, split="query", overwrite=True)
    assert only_query.images == 2


def test_openpose_csv_errors_name_the_line(tmp_path):
    root = make_root(tmp_path)
    src = tmp_path / "bad.csv"
    lines = ["name:keypoints_y:keypoints_x", csv_line(QUERY[0], OPENPOSE_PERSON), "foo: [1, 2]: [3]"]
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"bad.csv line 3 is not"):
        read_openpose_csv(src)
    other = tmp_path / "other.csv"
    other.write_text(csv_line("7777_c1s1_000001_01.jpg", OPENPOSE_PERSON) + "\n")
    with pytest.raises(ValueError, match="no image under"):
        import_keypoints("openpose-csv", other, root)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_openpose_csv(tmp_path / "absent.csv")
