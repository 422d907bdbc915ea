"""DukeMTMC-reID, CUHK03-NP and MSMT17 parsers: published split sizes on fake trees with the real naming;
bad names, bad cameras and missing folders are errors naming the file and the fix.

Every tree holds all its files (empty), on tmpfs where there is one (fake_datasets.scratch_folder): Duke
36,411 files, CUHK03-NP 28,193, MSMT17 126,441 plus its four full list files; the MSMT17 parser reads
the lists and checks the images only when asked (`verify_files`), which the full-size test does. The
MSMT17 trees are built from the four published list files themselves (tests/fixtures/msmt17_lists.txt.xz,
see scripts/make_msmt17_fixture.py), `_ex`-suffixed names included, for both releases' folder names.
"""

import pytest

from reid_lightning.data.datasets.cuhk03_np import load_cuhk03_np
from reid_lightning.data.datasets.dukemtmc import load_dukemtmc
from reid_lightning.data.datasets.msmt17 import load_msmt17, parse_list_line
from tests.fake_datasets import (
    make_cuhk03_np,
    make_duke,
    scratch_folder,
    touch_all,
    write_msmt17_lists,
    write_published_msmt17,
)


def sizes(samples) -> tuple[int, int]:
    return len(samples), len({s.pid for s in samples})


@pytest.fixture(scope="module")
def duke_parent(tmp_path_factory):
    for parent in scratch_folder(tmp_path_factory, "duke"):
        make_duke(parent / "DukeMTMC-reID")
        yield parent


def test_dukemtmc_split_sizes(duke_parent):
    splits = load_dukemtmc(duke_parent)  # the parent of DukeMTMC-reID/ is accepted
    assert splits.root == duke_parent / "DukeMTMC-reID" and splits.name == "dukemtmc"
    assert sizes(splits.train) == (16522, 702) and splits.num_train_pids == 702
    assert sizes(splits.query) == (2228, 702)
    assert sizes(splits.gallery) == (17661, 1110)
    assert {s.pid for s in splits.train} == set(range(702))
    assert {s.camid for s in splits.gallery} == set(range(8))
    assert {s.dataset for s in splits.train + splits.query + splits.gallery} == {"dukemtmc"}
    assert load_dukemtmc(duke_parent / "DukeMTMC-reID").query == splits.query


def test_dukemtmc_name_values(tmp_path):
    touch_all(tmp_path / "bounding_box_train", ["0005_c2_f0046182.jpg", "0005_c8_f0000001.jpg"])
    touch_all(tmp_path / "query", ["0042_c1_f0000002.jpg"])
    touch_all(tmp_path / "bounding_box_test", ["0042_c3_f0000003.jpg", "7140_c3_f0000004.jpg"])
    splits = load_dukemtmc(tmp_path)
    assert [(s.path.name, s.pid, s.camid) for s in splits.train] == [
        ("0005_c2_f0046182.jpg", 0, 1),
        ("0005_c8_f0000001.jpg", 0, 7),
    ]
    assert [(s.pid, s.camid) for s in splits.gallery] == [(42, 2), (7140, 2)]


def test_dukemtmc_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"DukeMTMC-reID root .*nowhere does not exist.*DUKEMTMC_ROOT"):
        load_dukemtmc(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"looked for .*bounding_box_train.*DukeMTMC-reID/bounding_box_train"):
        load_dukemtmc(tmp_path)
    touch_all(tmp_path / "bounding_box_train", ["0001_c1s1_000151_01.jpg"])  # a Market name
    touch_all(tmp_path / "query", [])
    with pytest.raises(
        ValueError,
        match=r"0001_c1s1_000151_01\.jpg does not follow the DukeMTMC-reID naming "
        r"PPPP_cC_fFFFFFFF\.jpg.*rename it",
    ):
        load_dukemtmc(tmp_path)
    (tmp_path / "bounding_box_train" / "0001_c1s1_000151_01.jpg").rename(
        tmp_path / "bounding_box_train" / "0001_c9_f0000001.jpg"
    )
    with pytest.raises(ValueError, match=r"0001_c9_f0000001\.jpg has camera c9; DukeMTMC-reID cameras are c1\.\.c8"):
        load_dukemtmc(tmp_path)
    (tmp_path / "bounding_box_train" / "0001_c9_f0000001.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"DukeMTMC-reID split folder .*bounding_box_test is missing"):
        load_dukemtmc(tmp_path)


@pytest.fixture(scope="module")
def cuhk_parent(tmp_path_factory):
    for parent in scratch_folder(tmp_path_factory, "cuhk"):
        make_cuhk03_np(parent / "cuhk03-np")
        yield parent


@pytest.mark.parametrize(
    "variant, expected",
    [
        ("detected", {"train": (7365, 767), "query": (1400, 700), "gallery": (5332, 700)}),
        ("labeled", {"train": (7368, 767), "query": (1400, 700), "gallery": (5328, 700)}),
    ],
)
def test_cuhk03_np_split_sizes(cuhk_parent, variant, expected):
    for root in (cuhk_parent, cuhk_parent / "cuhk03-np", cuhk_parent / "cuhk03-np" / variant):
        splits = load_cuhk03_np(root, variant=variant)
        assert splits.root == cuhk_parent / "cuhk03-np" / variant
        assert {split: sizes(getattr(splits, split)) for split in expected} == expected
    assert splits.num_train_pids == 767 and {s.camid for s in splits.query} == {0, 1}
    assert {s.dataset for s in splits.gallery} == {"cuhk03_np"}


def test_cuhk03_np_errors(cuhk_parent, tmp_path):
    with pytest.raises(ValueError, match=r"variant='detcted' is unknown.*detected, labeled"):
        load_cuhk03_np(cuhk_parent, variant="detcted")
    with pytest.raises(ValueError, match=r"is the CUHK03-NP labeled folder but data.options.variant=detected"):
        load_cuhk03_np(cuhk_parent / "cuhk03-np" / "labeled")
    with pytest.raises(FileNotFoundError, match=r"no CUHK03-NP \(detected\) split folders.*CUHK03_NP_ROOT"):
        load_cuhk03_np(tmp_path)
    touch_all(tmp_path / "detected" / "bounding_box_train", ["0001_c3_1.png"])
    with pytest.raises(ValueError, match=r"0001_c3_1\.png has camera c3; CUHK03-NP \(detected\) cameras are c1\.\.c2"):
        load_cuhk03_np(tmp_path)
    (tmp_path / "detected" / "bounding_box_train" / "0001_c3_1.png").rename(
        tmp_path / "detected" / "bounding_box_train" / "1_001_1_01.png"
    )  # Torchreid's .mat export naming
    with pytest.raises(
        ValueError,
        match=r"1_001_1_01\.png does not follow the CUHK03-NP \(detected\) naming "
        r"PPPP_cC_N\.png",
    ):
        load_cuhk03_np(tmp_path)


@pytest.fixture(
    scope="module",
    params=[("MSMT17_V1", ("train", "test")), ("MSMT17_V2", ("mask_train_v2", "mask_test_v2"))],
    ids=["v1", "v2"],
)
def msmt_lists(request, tmp_path_factory):
    release_name, folders = request.param
    for parent in scratch_folder(tmp_path_factory, "msmt"):
        release = parent / release_name
        yield release, folders, write_published_msmt17(release, folders)


def test_msmt17_split_sizes_from_published_lists(msmt_lists):
    release, (train_folder, test_folder), lines = msmt_lists
    suffixed = {name: sum(line.split()[0].endswith("_ex.jpg") for line in rows) for name, rows in lines.items()}
    assert suffixed["list_train.txt"] == 12699 and suffixed["list_gallery.txt"] == 34156  # the names once refused
    splits = load_msmt17(release.parent, verify_files=True)  # the parent of the release; the release is detected
    assert splits.root == release and splits.name == "msmt17"
    assert sizes(splits.train) == (32621, 1041) and splits.num_train_pids == 1041
    assert sizes(splits.query) == (11659, 3060)
    assert sizes(splits.gallery) == (82161, 3060)
    assert {s.camid for s in splits.train} == {s.camid for s in splits.gallery} == set(range(15))
    assert splits.folder == {"train": train_folder, "query": test_folder, "gallery": test_folder}
    first_query = lines["list_query.txt"][0].split()[0]
    assert splits.query[0].path == release / test_folder / first_query  # list order, test folder
    assert splits.train[-1].path.name == lines["list_val.txt"][-1].split()[0].split("/")[1]  # val appended
    assert sizes(load_msmt17(release, include_val=False).train) == (30248, 1041)


def test_msmt17_split_sizes_from_generated_lists(tmp_path):
    release = tmp_path / "MSMT17_V2"
    write_msmt17_lists(release, ("mask_train_v2", "mask_test_v2"))
    splits = load_msmt17(release)
    assert (sizes(splits.train), sizes(splits.query), sizes(splits.gallery)) == (
        (32621, 1041),
        (11659, 3060),
        (82161, 3060),
    )


def test_msmt17_list_line_values():
    line = "0012/0012_004_07_0302afternoon_0123_1.jpg 12\n"
    assert parse_list_line(line, "list_train.txt", 1) == ("0012/0012_004_07_0302afternoon_0123_1.jpg", 12, 6)
    line = "0000/0000_046_12_0303morning_0006_2_ex.jpg 0"  # line 2 of the published list_train.txt
    assert parse_list_line(line, "list_train.txt", 2) == ("0000/0000_046_12_0303morning_0006_2_ex.jpg", 0, 11)
    line = "0439/0439_081_01_0303afternoon_1694_10.jpg 439"  # a two-digit index, also published
    assert parse_list_line(line, "list_train.txt", 3)[1:] == (439, 0)
    line = "0007/0003_001_05_0113noon_0002_0.jpg 7"  # the list is the truth for identity, as in Torchreid
    assert parse_list_line(line, "list_train.txt", 4)[1:] == (7, 4)


def test_msmt17_releases_and_verify_files(tmp_path):
    v1 = tmp_path / "MSMT17_V1"
    names = ["0000/0000_000_01_0303morning_0015_0.jpg", "0000/0000_001_15_0303noon_0016_1.jpg"]
    touch_all(v1 / "train", names)
    touch_all(v1 / "test", ["0003/0003_000_02_0113morning_0001_0.jpg", "0003/0003_001_05_0113noon_0002_0.jpg"])
    (v1 / "list_train.txt").write_text(f"{names[0]} 0\n")
    (v1 / "list_val.txt").write_text(f"{names[1]} 0\n")
    (v1 / "list_query.txt").write_text("0003/0003_000_02_0113morning_0001_0.jpg 3\n")
    (v1 / "list_gallery.txt").write_text("0003/0003_001_05_0113noon_0002_0.jpg 3\n")
    splits = load_msmt17(v1, verify_files=True)
    assert [(s.path, s.pid, s.camid) for s in splits.train] == [
        (v1 / "train" / names[0], 0, 0),
        (v1 / "train" / names[1], 0, 14),
    ]
    assert [(s.pid, s.camid) for s in splits.query + splits.gallery] == [(3, 1), (3, 4)]
    assert [s.path.name for s in load_msmt17(v1, include_val=False).train] == [names[0].split("/")[1]]
    (v1 / "test" / "0003" / "0003_001_05_0113noon_0002_0.jpg").unlink()
    load_msmt17(v1)  # images are not checked unless asked
    with pytest.raises(
        FileNotFoundError,
        match=r"1 image\(s\) listed in the MSMT17 lists .* are missing: "
        r".*0003_001_05_0113noon_0002_0\.jpg",
    ):
        load_msmt17(v1, verify_files=True)
    touch_all(tmp_path / "MSMT17_V2" / "mask_train_V2", [])  # capitalised as in some archives
    touch_all(tmp_path / "MSMT17_V2" / "mask_test_V2", [])
    with pytest.raises(ValueError, match=r"holds both MSMT17 releases.*release=v1 or v2"):
        load_msmt17(tmp_path)
    assert load_msmt17(tmp_path, release="v1").root == v1
    with pytest.raises(FileNotFoundError, match=r"list file .*MSMT17_V2/list_train\.txt is missing.*MSMT17_ROOT"):
        load_msmt17(tmp_path, release="V2")
    with pytest.raises(ValueError, match=r"release='v3' is unknown"):
        load_msmt17(tmp_path, release="v3")


def test_msmt17_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"MSMT17 root .*nowhere does not exist"):
        load_msmt17(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no MSMT17 release in .*train/test, mask_train_v2/mask_test_v2"):
        load_msmt17(tmp_path)
    release = tmp_path / "MSMT17_V1"
    touch_all(release / "train", [])
    touch_all(release / "test", [])
    for name in ("list_train.txt", "list_val.txt", "list_gallery.txt"):
        (release / name).write_text("0000/0000_000_01_0303morning_0015_0.jpg 0\n")
    (release / "list_query.txt").write_text("0000/0000_000_01_0303morning_0015_0.jpg 0\n0001/0001_c1s1.jpg 1\n")
    with pytest.raises(
        ValueError,
        match=r"list_query\.txt line 2: image 0001/0001_c1s1\.jpg has no camera number "
        r"in its third '_' field; MSMT17 names are .*Restore the list file",
    ):
        load_msmt17(release)
    (release / "list_query.txt").write_text("\n0000/0000_000_16_0303morning_0015_0.jpg 0\n")
    with pytest.raises(ValueError, match=r"line 2: image .* has camera 16; MSMT17 cameras are 1\.\.15"):
        load_msmt17(release)
    (release / "list_query.txt").write_text("0000/0000_000_01_0303morning_0015_0.jpg\n")
    with pytest.raises(ValueError, match=r"line 1 reads .*; MSMT17 list lines are '<pid folder>/<image name> <pid>'"):
        load_msmt17(release)
    (release / "list_query.txt").write_text("0000/0000_000_1a_0303morning_0015_0_ex.jpg 0\n")
    with pytest.raises(ValueError, match=r"line 1: image .*_1a_.* has no camera number in its third '_' field"):
        load_msmt17(release)


def test_every_parser_is_registered_by_name(tmp_path):
    from reid_lightning.data.datasets import DATASETS, load_dataset

    assert {"market1501", "synthetic", "dukemtmc", "msmt17", "cuhk03_np", "folder", "csv"} <= set(DATASETS.names())
    with pytest.raises(ValueError, match=r"data.name=cuhk03_np has no option varient; its options are root, variant"):
        load_dataset("cuhk03_np", tmp_path, varient="labeled")
    with pytest.raises(ValueError, match=r"unknown data.name='dukemtcm'.*close matches: dukemtmc"):
        load_dataset("dukemtcm", tmp_path)
