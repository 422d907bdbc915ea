"""Synthetic Market-1501: layout, names, counts, exact part maps, determinism, degradation, misalignment."""

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_lightning.data.datasets.market1501 import load_market1501
from reid_lightning.data.generator import MANIFEST, SyntheticConfig, ensure_synthetic, generate, main
from reid_lightning.data.generator.identities import make_identities, sample_identity, vary_identity
from reid_lightning.data.generator.plan import plan

SMALL = SyntheticConfig(num_train_ids=6, num_test_ids=4, num_distractors=5, num_junk=3, seed=7)
CLEAN = replace(SMALL, part_drop_prob=0.0, part_erode_prob=0.0, part_mislabel_prob=0.0)
SPLITS = ("bounding_box_train", "query", "bounding_box_test")
NAME = re.compile(r"^(-1|\d{4})_c[1-6]s[1-6]_\d{6}_\d{2}\.jpg$")


def _hashes(root: Path, pattern: str) -> dict[str, str]:
    paths = sorted(root.rglob(pattern))
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("small")
    generate(root, SMALL)
    return root


@pytest.fixture(scope="module")
def clean(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("clean")
    generate(root, CLEAN)
    return root


def test_layout_names_and_counts_parse_with_market_parser(small):
    jobs = plan(SMALL)
    files = {split: sorted(p.name for p in (small / split).iterdir()) for split in SPLITS}
    assert {split: len(names) for split, names in files.items()} == {
        split: sum(j.folder == split for j in jobs) for split in SPLITS
    }
    assert all(NAME.match(name) for names in files.values() for name in names)
    gallery = files["bounding_box_test"]
    assert sum(n.startswith("-1_") for n in gallery) == 3 and sum(n.startswith("0000_") for n in gallery) == 5
    splits = load_market1501(small)
    assert splits.num_train_pids == 6 and len({s.pid for s in splits.query}) == 4
    assert {s.pid for s in splits.gallery} == {s.pid for s in splits.query} | {0}
    assert len(splits.gallery) == len(gallery) - 3  # junk dropped by the parser
    assert len(splits.train) == len(files["bounding_box_train"])
    for s in splits.query:  # every query has a match in another camera
        assert any(g.pid == s.pid and g.camid != s.camid for g in splits.gallery)
    manifest = json.loads((small / MANIFEST).read_text())
    assert manifest["synthetic"] and manifest["complete"] and manifest["config"]["num_train_ids"] == 6
    assert "SYNTHETIC" in (small / "README.txt").read_text()


def test_part_maps_match_images(small):
    for split in SPLITS:
        for image_path in (small / split).glob("*.jpg"):
            image = Image.open(image_path)
            part_map = Image.open(small / "part_maps" / split / f"{image_path.stem}.png")
            assert part_map.mode == "L" and part_map.size == image.size == (64, 128)
            assert np.asarray(part_map).max() <= 6


def _centroid_rows(parts: np.ndarray) -> dict[int, float]:
    rows = np.arange(parts.shape[0])[:, None].repeat(parts.shape[1], 1)
    return {label: rows[parts == label].mean() for label in range(1, 7) if (parts == label).any()}


def test_head_above_torso_above_legs_in_exact_maps(clean):
    checked = 0
    for split in ("bounding_box_train", "query"):
        for path in (clean / "part_maps" / split).glob("*.png"):
            c = _centroid_rows(np.asarray(Image.open(path)))
            assert {1, 2, 5, 6} <= set(c), path
            assert c[1] < c[2] < c[5] < c[6], (path, c)
            assert c[3] < c[4] if {3, 4} <= set(c) else True
            checked += 1
    assert checked > 50


def test_same_seed_gives_byte_identical_files(small, tmp_path):
    generate(tmp_path, SMALL)
    assert _hashes(tmp_path, "*.*") == _hashes(small, "*.*")
    other = tmp_path / "other"
    generate(other, replace(SMALL, seed=8))
    assert _hashes(other, "*.jpg") != _hashes(small, "*.jpg")


def test_degradation_changes_maps_not_images(small, clean):
    assert _hashes(small, "*.jpg") == _hashes(clean, "*.jpg")
    maps_small, maps_clean = _hashes(small, "*.png"), _hashes(clean, "*.png")
    assert maps_small.keys() == maps_clean.keys()
    changed = sum(maps_small[k] != maps_clean[k] for k in maps_small)
    assert 0.1 * len(maps_small) < changed < len(maps_small)


def _head_tops(root: Path) -> list[int]:
    """Top row of the head in every train image of the first train identity."""
    first = sorted((root / "part_maps" / "bounding_box_train").glob("*.png"))[0].name[:4]
    tops = []
    for path in sorted((root / "part_maps" / "bounding_box_train").glob(f"{first}_*.png")):
        rows = np.nonzero((np.asarray(Image.open(path)) == 1).any(axis=1))[0]
        tops.append(int(rows[0]))
    return tops


def test_misalignment_moves_the_head_across_images_of_one_identity(clean, tmp_path):
    aligned = replace(CLEAN, misalignment=0.0)
    generate(tmp_path / "aligned", aligned)
    generate(tmp_path / "shaky", replace(CLEAN, misalignment=1.0))
    still, moving = _head_tops(tmp_path / "aligned"), _head_tops(tmp_path / "shaky")
    assert len(still) >= 4 and max(still) - min(still) <= 1
    assert max(moving) - min(moving) >= 5


def test_look_alike_identities_differ_in_few_attributes():
    rng = np.random.default_rng(0)
    for _ in range(20):
        base = sample_identity(rng)
        twin = vary_identity(rng, base)
        same = [np.array_equal(getattr(base, k), getattr(twin, k)) for k in base.__dataclass_fields__]
        assert 0 < same.count(False) <= 6 and same.count(True) >= 10
    identities = make_identities(SMALL)
    assert np.array_equal(identities[0].upper, identities[1].upper)  # pairs share the upper colour


def test_ensure_synthetic_generates_reuses_and_regenerates(tmp_path):
    root = tmp_path / "syn"
    tiny = replace(SMALL, num_train_ids=3, num_test_ids=2)
    assert ensure_synthetic(root, tiny) == root
    stamp = (root / MANIFEST).stat().st_mtime_ns
    ensure_synthetic(root, tiny)
    assert (root / MANIFEST).stat().st_mtime_ns == stamp  # reused, not rewritten
    bigger = replace(tiny, num_train_ids=4)
    ensure_synthetic(root, bigger)
    assert load_market1501(root).num_train_pids == 4
    assert json.loads((root / MANIFEST).read_text())["config"]["num_train_ids"] == 4
    assert len(list((root / "part_maps" / "bounding_box_train").glob("*.png"))) == len(
        list((root / "bounding_box_train").glob("*.jpg"))
    )  # no stale maps left behind


def test_ensure_synthetic_refuses_foreign_folder(tmp_path):
    (tmp_path / "holiday.jpg").write_bytes(b"precious")
    with pytest.raises(FileExistsError, match=f"no {MANIFEST}.*refusing"):
        ensure_synthetic(tmp_path, SMALL)
    assert (tmp_path / "holiday.jpg").read_bytes() == b"precious" and len(list(tmp_path.iterdir())) == 1


def test_cli_flags_and_config_validation(tmp_path, capsys):
    main(
        [
            "--root",
            str(tmp_path / "cli"),
            "--num-train-ids",
            "3",
            "--num-test-ids",
            "2",
            "--num-junk",
            "0",
            "--num-distractors",
            "1",
            "--image-size",
            "64",
            "32",
            "--preview",
            str(tmp_path / "grid.png"),
        ]
    )
    image = next((tmp_path / "cli" / "query").glob("*.jpg"))
    assert Image.open(image).size == (32, 64)
    assert (tmp_path / "grid.png").is_file() and "synthetic Market-1501" in capsys.readouterr().out
    with pytest.raises(ValueError, match="num_cameras=10"):  # Market-style names hold one camera digit
        SyntheticConfig(num_cameras=10).validate()
    with pytest.raises(ValueError, match="cameras_per_id"):
        SyntheticConfig(cameras_per_id=(1, 3)).validate()
    assert SyntheticConfig(image_size=[96, 48]).image_size == (96, 48)  # lists from Hydra become tuples
