"""Market-1501 parser: exact split sizes on a fake tree of empty files with real counts; errors; val split."""

import random
from pathlib import Path

import pytest

from reid_lightning.data.datasets.market1501 import load_market1501, parse_name
from reid_lightning.data.market_layout import MARKET_FOLDER
from reid_lightning.data.part_maps import part_map_path
from reid_lightning.data.samples import Sample
from reid_lightning.data.validation import split_validation

# Real Market-1501 file counts: 12,936 train; 3,368 query; 19,732 gallery = 13,120 good + 2,793
# distractors (pid 0) + 3,819 junk (pid -1), so the parsed gallery holds 13,120 + 2,793 = 15,913.
NUM_TRAIN_IDS, NUM_TEST_IDS = 751, 750
NUM_DISTRACTORS, NUM_JUNK = 2793, 3819


def make_fake_market(folder: Path) -> None:
    """Empty files with real-looking names reproducing Market-1501's counts (and a Thumbs.db per folder)."""
    rng = random.Random(0)
    pids = list(range(1, 1502))
    rng.shuffle(pids)
    train_ids, test_ids = sorted(pids[:NUM_TRAIN_IDS]), sorted(pids[NUM_TRAIN_IDS:])
    names: dict[str, list[str]] = {"bounding_box_train": [], "query": [], "bounding_box_test": []}
    for k, pid in enumerate(train_ids):  # 751 * 17 + 169 = 12,936
        names["bounding_box_train"] += [
            f"{pid:04d}_c{i % 6 + 1}s1_{25 * i:06d}_0{i % 3}.jpg" for i in range(17 + (k < 169))
        ]
    for k, pid in enumerate(test_ids):
        names["query"] += [f"{pid:04d}_c{i + 1}s1_{25 * i:06d}_00.jpg" for i in range(4 + (k < 368))]  # 3,368
        names["bounding_box_test"] += [
            f"{pid:04d}_c{i % 6 + 1}s2_{25 * i:06d}_01.jpg" for i in range(17 + (k < 370))
        ]  # 13,120
    names["bounding_box_test"] += [f"0000_c{i % 6 + 1}s3_{i:06d}_00.jpg" for i in range(NUM_DISTRACTORS)]
    names["bounding_box_test"] += [f"-1_c{i % 6 + 1}s4_{i:06d}_00.jpg" for i in range(NUM_JUNK)]
    for split, files in names.items():
        (folder / split).mkdir(parents=True)
        for name in files + ["Thumbs.db"]:
            (folder / split / name).touch()


@pytest.fixture(scope="module")
def fake_market(tmp_path_factory) -> Path:
    parent = tmp_path_factory.mktemp("data")
    make_fake_market(parent / MARKET_FOLDER)
    return parent


def test_fake_tree_has_real_file_counts(fake_market):
    folder = fake_market / MARKET_FOLDER
    jpgs = {
        split: len(list((folder / split).glob("*.jpg")))
        for split in ("bounding_box_train", "query", "bounding_box_test")
    }
    assert jpgs == {"bounding_box_train": 12936, "query": 3368, "bounding_box_test": 19732}


def test_parser_gives_market_split_sizes(fake_market):
    splits = load_market1501(fake_market)  # the parent of Market-1501-v15.09.15/ is accepted
    assert splits.root == fake_market / MARKET_FOLDER
    assert (len(splits.train), len({s.pid for s in splits.train}), splits.num_train_pids) == (12936, 751, 751)
    assert (len(splits.query), len({s.pid for s in splits.query})) == (3368, 750)
    assert len(splits.gallery) == 15913
    gallery_pids = {s.pid for s in splits.gallery}
    assert len(gallery_pids) == 751 and 0 in gallery_pids  # 750 test ids + the distractor id
    assert sum(s.pid == 0 for s in splits.gallery) == NUM_DISTRACTORS
    assert all(s.pid != -1 for s in splits.train + splits.query + splits.gallery)
    assert {s.pid for s in splits.train} == set(range(751))
    assert {s.camid for s in splits.gallery} == set(range(6))
    assert (splits.train_dir, splits.query_dir, splits.gallery_dir) == (
        "bounding_box_train",
        "query",
        "bounding_box_test",
    )
    table = splits.summary()
    assert "12936" in table and "3368" in table and "15913" in table and "2793 distractors" in table


def test_train_relabelled_in_sorted_pid_order_and_sorted_files(fake_market):
    splits = load_market1501(fake_market / MARKET_FOLDER)
    raw = [int(s.path.name.split("_")[0]) for s in splits.train]
    label_of = {pid: label for label, pid in enumerate(sorted(set(raw)))}
    assert [s.pid for s in splits.train] == [label_of[p] for p in raw]
    assert [s.path.name for s in splits.query] == sorted(s.path.name for s in splits.query)
    assert splits.query[0].pid == int(splits.query[0].path.name[:4])  # eval splits keep raw pids
    assert load_market1501(fake_market).train == splits.train  # deterministic


def test_thesis_validation_split_on_market_counts(fake_market):
    train = load_market1501(fake_market).train
    val = split_validation(train, num_gallery_per_id=0, seed=0)
    assert (len(val.train), len(val.query), len(val.gallery)) == (12185, 751, 0)  # thesis: 12,185 / 751


def test_parse_name_exact_values():
    assert parse_name(Path("0002_c3s1_000451_03.jpg")) == (2, 2)
    assert parse_name(Path("-1_c1s1_000401_03.jpg")) == (-1, 0)
    assert parse_name(Path("0000_c6s4_002202_07.jpg")) == (0, 5)


def _tree(root: Path, names: dict[str, list[str]]) -> Path:
    for split in ("bounding_box_train", "query", "bounding_box_test"):
        (root / split).mkdir(parents=True, exist_ok=True)
        for name in names.get(split, []):
            (root / split / name).touch()
    return root


def test_bad_name_and_bad_camera_are_errors_naming_the_file(tmp_path):
    _tree(tmp_path / "a", {"bounding_box_train": ["0001_c1s1_000001_00.jpg", "holiday.jpg", "notes.txt"]})
    with pytest.raises(ValueError, match=r"holiday\.jpg.*PPPP_cCsS_FFFFFF_BB\.jpg"):
        load_market1501(tmp_path / "a")
    _tree(tmp_path / "b", {"query": ["0001_c7s1_000001_00.jpg"]})
    with pytest.raises(ValueError, match=r"0001_c7s1_000001_00\.jpg has camera c7; .*c1\.\.c6"):
        load_market1501(tmp_path / "b")


def test_non_jpg_files_are_ignored(tmp_path):
    root = _tree(
        tmp_path,
        {
            "bounding_box_train": [
                "0003_c1s1_000001_00.jpg",
                "0003_c2s1_000001_00.jpg",
                "Thumbs.db",
                "0003_c1s1_000001_00.png",
            ],
            "query": ["0005_c1s1_000001_00.jpg"],
            "bounding_box_test": ["0005_c2s1_000001_00.jpg"],
        },
    )
    splits = load_market1501(root)
    assert [(s.path.name, s.pid, s.camid) for s in splits.train] == [
        ("0003_c1s1_000001_00.jpg", 0, 0),
        ("0003_c2s1_000001_00.jpg", 0, 1),
    ]
    assert splits.query == [Sample(root / "query" / "0005_c1s1_000001_00.jpg", 5, 0, "market1501")]


def test_missing_root_and_missing_split_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"does not exist.*data\.root=.*MARKET1501_ROOT"):
        load_market1501(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"looked for .*bounding_box_train.*Market-1501-v15\.09\.15"):
        load_market1501(tmp_path)
    (tmp_path / "bounding_box_train").mkdir()
    with pytest.raises(FileNotFoundError, match=r"query is missing"):
        load_market1501(tmp_path)


def test_part_map_path_by_stem(tmp_path):
    sample = Sample(Path("/data/query/0001_c1s1_000151_01.jpg"), 1, 0)
    assert part_map_path(tmp_path, "query", sample) == tmp_path / "query" / "0001_c1s1_000151_01.png"


def _samples(layout: dict[int, list[int]]) -> list[Sample]:
    """pid -> cameras of its images (one image per entry), already relabelled."""
    return [
        Sample(Path(f"/t/{pid:04d}_c{cam + 1}s1_{i:06d}_00.jpg"), pid, cam)
        for pid, cams in layout.items()
        for i, cam in enumerate(cams)
    ]


def test_split_validation_images_mode_keeps_identities_and_cross_camera_matches():
    train = _samples({0: [0, 0, 1, 1], 1: [2, 3, 3], 2: [0, 0, 0], 3: [4, 5]})
    val = split_validation(train, num_query_per_id=1, num_gallery_per_id=1, seed=3)
    # pid 2 (one camera) and pid 3 (two images: nothing would stay in train) are not validated
    assert sorted(s.pid for s in val.query) == [0, 1] and sorted(s.pid for s in val.gallery) == [0, 1]
    for q in val.query:
        assert any(g.pid == q.pid and g.camid != q.camid for g in val.gallery)
    paths = [s.path for s in val.train + val.query + val.gallery]
    assert sorted(paths) == sorted(s.path for s in train) and len(set(paths)) == len(paths)
    assert {s.pid for s in val.train} == {0, 1, 2, 3}  # every identity still trained on, same labels
    assert split_validation(train, num_query_per_id=1, num_gallery_per_id=1, seed=3) == val  # deterministic


def test_split_validation_identity_mode_holds_out_whole_identities():
    train = _samples({0: [0, 1, 1], 1: [2, 3], 2: [0, 0, 5], 3: [4, 5, 5], 4: [1, 1]})
    train_part, query, gallery = split_validation(train, num_val_ids=2, seed=0)
    held = {s.pid for s in query + gallery}
    assert len(held) == 2 and 4 not in held  # pid 4 is seen by one camera only: not eligible
    assert not held & {int(s.path.name[:4]) for s in train_part}
    assert sorted({s.pid for s in train_part}) == [0, 1, 2]  # relabelled 0..N-1
    assert len(query) == 2 and len(train_part) + len(query) + len(gallery) == len(train)
    for q in query:
        assert any(g.pid == q.pid and g.camid != q.camid for g in gallery)
    with pytest.raises(ValueError, match="num_val_ids=5"):
        split_validation(train, num_val_ids=5)
    wide = _samples({0: [0, 1, 2, 3, 3], 1: [0, 0]})  # only pid 0 is eligible; 4 cameras: 3 queries
    rest, query, gallery = split_validation(wide, num_val_ids=1, seed=1)
    assert len(query) == 3 and len({q.camid for q in query}) == 3 and len(gallery) == 2 and len(rest) == 2
    assert len(split_validation(wide, num_val_ids=1, num_query_per_id=1, seed=1).query) == 1
