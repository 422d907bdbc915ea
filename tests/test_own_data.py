"""Your own data: a Market-style folder with a configurable name pattern, and a CSV/TSV manifest; exact
values on hand-made sets, the no-camera option (with its warning), and errors naming file, value and fix."""

import pytest

from reid_lightning.data.datasets.folder import load_folder
from reid_lightning.data.datasets.manifest import load_csv
from tests.fake_datasets import touch_all

CAM_PATTERN = r"(?P<pid>-?\d+)_cam(?P<camid>\d+)_.*"


def _own_folder(root, names: dict[str, list[str]]):
    for split, files in names.items():
        touch_all(root / split, files)
    return root


def test_folder_with_own_pattern_and_folder_names(tmp_path):
    root = _own_folder(
        tmp_path,
        {
            "train": ["0007_cam0_a.png", "0007_cam1_b.png", "0003_cam2_c.png", "-1_cam0_junk.png", "notes.txt"],
            "probe": ["0100_cam0_q.png"],
            "gallery": ["0100_cam1_g.png", "0000_cam2_g.png"],
        },
    )
    splits = load_folder(
        root, pattern=CAM_PATTERN, folders={"train": "train", "query": "probe", "gallery": "gallery"}, first_camera=0
    )
    assert [(s.path.name, s.pid, s.camid, s.dataset) for s in splits.train] == [
        ("0003_cam2_c.png", 0, 2, "folder"),
        ("0007_cam0_a.png", 1, 0, "folder"),
        ("0007_cam1_b.png", 1, 1, "folder"),
    ]
    assert splits.num_train_pids == 2 and splits.folder == {"train": "train", "query": "probe", "gallery": "gallery"}
    assert [(s.pid, s.camid) for s in splits.query] == [(100, 0)]
    assert [(s.pid, s.camid) for s in splits.gallery] == [(0, 2), (100, 1)]  # pid 0 is an ordinary identity


def test_folder_default_pattern_reads_market_names(tmp_path):
    root = _own_folder(
        tmp_path,
        {
            "bounding_box_train": ["0002_c1s1_000451_03.jpg"],
            "query": ["0005_c2s1_1.jpg"],
            "bounding_box_test": ["0005_c3s1_2.JPG", "-1_c3s1_3.jpg"],
        },
    )
    splits = load_folder(root)
    assert [(s.pid, s.camid) for s in splits.train + splits.query + splits.gallery] == [(0, 0), (5, 1), (5, 2)]


def test_folder_without_cameras_needs_the_option(tmp_path):
    root = _own_folder(
        tmp_path,
        {
            "bounding_box_train": ["1_a.jpg", "2_b.jpg"],
            "query": ["5_q.jpg"],
            "bounding_box_test": ["5_g.jpg", "6_g.jpg"],
        },
    )
    with pytest.raises(ValueError, match=r"has no camera labels.*missing_camids=distinct"):
        load_folder(root, pattern=r"(?P<pid>\d+)_.*")
    with pytest.warns(UserWarning, match=r"same-camera matches count as hits"):
        splits = load_folder(root, pattern=r"(?P<pid>\d+)_.*", missing_camids="distinct")
    assert {s.camid for s in splits.train} == {0} and [s.camid for s in splits.query] == [0]
    assert [s.camid for s in splits.gallery] == [1, 1]
    with pytest.raises(ValueError, match=r"missing_camids='distict' is unknown; use one of error, distinct"):
        load_folder(root, pattern=r"(?P<pid>\d+)_.*", missing_camids="distict")


def test_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"folder dataset root .*nowhere does not exist"):
        load_folder(tmp_path / "nowhere")
    root = _own_folder(tmp_path, {"bounding_box_train": ["0001_c1_a.jpg", "holiday.jpg"], "query": []})
    with pytest.raises(
        ValueError,
        match=r"holiday\.jpg does not follow the folder dataset .* naming "
        r"data\.options\.pattern=.*change data\.options\.pattern",
    ):
        load_folder(root)
    (root / "bounding_box_train" / "holiday.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"split folder .*bounding_box_test is missing.*data\.options\.folders"):
        load_folder(root)
    touch_all(root / "bounding_box_test", ["0001_c0_b.jpg"])
    with pytest.raises(
        ValueError,
        match=r"0001_c0_b\.jpg has camera 0; .* cameras are >= 1\. Set "
        r"data\.options\.first_camera",
    ):
        load_folder(root)
    with pytest.raises(ValueError, match=r"has no named group 'pid'"):
        load_folder(root, pattern=r"(\d+)_c(?P<camid>\d+).*")
    with pytest.raises(ValueError, match=r"is not a valid regex"):
        load_folder(root, pattern=r"(?P<pid>\d+")
    with pytest.raises(ValueError, match=r"data\.options\.folders has keys test"):
        load_folder(root, folders={"test": "x"})


def _manifest(path, text: str):
    path.write_text(text)
    return path


def test_csv_manifest_values(tmp_path):
    manifest = _manifest(
        tmp_path / "manifest.csv",
        (
            "split,path,pid,camid,note\n"
            "train,imgs/a.jpg,7,0,x\n"
            "train,imgs/b.jpg,3,1,\n"
            "\n"
            "train,imgs/junk.jpg,-1,0,\n"
            f"query,{tmp_path}/elsewhere/q.jpg,100,0,\n"
            "Gallery, imgs/g.jpg ,100,2,\n"
        ),
    )
    for root in (tmp_path, manifest):  # the folder holding manifest.csv, or the file itself
        splits = load_csv(root)
        assert splits.root == tmp_path and splits.name == "csv"
        assert [(s.path, s.pid, s.camid, s.dataset) for s in splits.train] == [
            (tmp_path / "imgs/a.jpg", 1, 0, "csv"),
            (tmp_path / "imgs/b.jpg", 0, 1, "csv"),
        ]
        assert [(s.path, s.pid, s.camid) for s in splits.query] == [(tmp_path / "elsewhere/q.jpg", 100, 0)]
        assert [(s.path, s.pid, s.camid) for s in splits.gallery] == [(tmp_path / "imgs/g.jpg", 100, 2)]
    assert splits.num_train_pids == 2


def test_tsv_and_semicolon_manifests(tmp_path):
    _manifest(tmp_path / "list.tsv", "path\tpid\tsplit\tcamid\na b.jpg\t1\ttrain\t0\nq.jpg\t2\tquery\t1\n")
    splits = load_csv(tmp_path / "list.tsv")
    assert [(s.path.name, s.camid) for s in splits.train + splits.query] == [("a b.jpg", 0), ("q.jpg", 1)]
    _manifest(tmp_path / "semi.csv", "path;pid;split;camid\na.jpg;1;train;0\n")
    assert load_csv(tmp_path, manifest="semi.csv").train[0].pid == 0


def test_csv_without_cameras_needs_the_option(tmp_path):
    _manifest(tmp_path / "manifest.csv", "path,pid,split\na.jpg,1,train\nq.jpg,2,query\ng.jpg,2,gallery\n")
    with pytest.raises(ValueError, match=r"manifest .*manifest\.csv has no camera labels"):
        load_csv(tmp_path)
    with pytest.warns(UserWarning, match=r"query in camera 0 and gallery in camera 1"):
        splits = load_csv(tmp_path, missing_camids="distinct")
    assert [(s.path.name, s.camid) for s in splits.train + splits.query + splits.gallery] == [
        ("a.jpg", 0),
        ("q.jpg", 0),
        ("g.jpg", 1),
    ]
    _manifest(tmp_path / "empty_cams.csv", "path,pid,camid,split\na.jpg,1,,train\nq.jpg,2,,query\n")
    with pytest.warns(UserWarning):
        assert load_csv(tmp_path / "empty_cams.csv", missing_camids="distinct").query[0].camid == 0


@pytest.mark.parametrize(
    "text, error",
    [
        ("file,pid,split\na.jpg,1,train\n", r"has the columns \['file', 'pid', 'split'\], not path; its first row"),
        ("path,pid,camid,split\na.jpg,1,0,train\nb.jpg,1,0,val\n", r"line 3: split 'val' is unknown; use one of train"),
        ("path,pid,camid,split\na.jpg,alice,0,train\n", r"line 2: pid 'alice' is not an integer"),
        ("path,pid,camid,split\na.jpg,1,c1,train\n", r"line 2: camid 'c1' is not an integer"),
        ("path,pid,camid,split\na.jpg,1,0,train\nb.jpg,1,,query\n", r"line 3 has no camid while other rows have one"),
        ("path,pid,camid,split\n,1,0,train\n", r"line 2 has an empty path"),
    ],
)
def test_csv_errors_name_the_line_and_the_fix(tmp_path, text, error):
    _manifest(tmp_path / "manifest.csv", text)
    with pytest.raises(ValueError, match=error):
        load_csv(tmp_path)


def test_csv_missing_manifest_and_verify_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"manifest .*manifest\.csv does not exist.*path,pid,camid,split"):
        load_csv(tmp_path)
    touch_all(tmp_path / "imgs", ["a.jpg"])
    _manifest(tmp_path / "manifest.csv", "path,pid,camid,split\nimgs/a.jpg,1,0,train\nimgs/b.jpg,1,1,train\n")
    assert len(load_csv(tmp_path).train) == 2  # not checked unless asked
    with pytest.raises(FileNotFoundError, match=r"1 image\(s\) listed in manifest .* are missing: .*imgs/b\.jpg"):
        load_csv(tmp_path, verify_files=True)
