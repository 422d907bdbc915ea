"""Synthetic occlusion: occluders hide body pixels in query/gallery images only, the part maps say where, and
everything else is byte-identical to the unoccluded set."""

import csv
import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_lightning.data.generator import SyntheticConfig, generate
from reid_lightning.data.generator.cameras import sample_camera, sample_shot
from reid_lightning.data.generator.domains import BACKGROUNDS, ILLUMINATIONS, PALETTES
from reid_lightning.data.generator.identities import sample_identity
from reid_lightning.data.generator.occlusion import pick_occluder, sample_occluder
from reid_lightning.data.generator.render import render

CLEAN = SyntheticConfig(
    num_train_ids=4,
    num_test_ids=4,
    num_distractors=3,
    num_junk=2,
    seed=5,
    part_drop_prob=0.0,
    part_erode_prob=0.0,
    part_mislabel_prob=0.0,
)
SIZE = (128, 64)


def _hashes(root: Path, folder: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / folder).glob("*.*"))}


def _load(root: Path, folder: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    image = np.asarray(Image.open(root / folder / name).convert("RGB"), np.float32)
    parts = np.asarray(Image.open(root / "part_maps" / folder / f"{Path(name).stem}.png"))
    return image, parts


@pytest.fixture(scope="module")
def sets(tmp_path_factory) -> tuple[Path, Path]:
    plain, occluded = tmp_path_factory.mktemp("plain"), tmp_path_factory.mktemp("occluded")
    generate(plain, CLEAN)
    generate(occluded, replace(CLEAN, occlusion=1.0))
    return plain, occluded


def test_occluded_maps_lose_part_pixels_where_the_occluder_is_drawn(sets):
    plain, occluded = sets
    checked = 0
    for folder in ("query", "bounding_box_test"):
        for path in sorted((occluded / folder).glob("*.jpg")):
            if path.name.startswith(("0000_", "-1_")):  # distractors and junk are never occluded
                assert _hashes(plain, folder)[path.name] == _hashes(occluded, folder)[path.name]
                continue
            image_plain, parts_plain = _load(plain, folder, path.name)
            image_occluded, parts_occluded = _load(occluded, folder, path.name)
            assert np.all((parts_occluded == parts_plain) | (parts_occluded == 0))  # only ever loses parts
            hidden = (parts_plain > 0) & (parts_occluded == 0)
            assert 0.15 * (parts_plain > 0).sum() <= hidden.sum() < 0.9 * (parts_plain > 0).sum(), path.name
            changed = np.abs(image_occluded - image_plain).sum(axis=2)  # (H, W)
            assert changed[hidden].mean() > 3 * changed[parts_occluded > 0].mean() + 10  # drawn over, there
            checked += 1
    assert checked > 30


def test_train_images_and_maps_are_untouched(sets):
    plain, occluded = sets
    for folder in ("bounding_box_train", "part_maps/bounding_box_train"):
        assert _hashes(plain, folder) == _hashes(occluded, folder)
    assert not (plain / "occlusions.csv").exists()


def test_occlusions_are_listed_and_reproducible(sets, tmp_path):
    _, occluded = sets
    with open(occluded / "occlusions.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    listed = {row["image"] for row in rows}
    expected = {
        f"{folder}/{p.name}"
        for folder in ("query", "bounding_box_test")
        for p in (occluded / folder).glob("*.jpg")
        if not p.name.startswith(("0000_", "-1_"))
    }
    assert listed == expected and {row["occluder"] for row in rows} == {"box", "pedestrian"}
    again = tmp_path / "again"
    generate(again, replace(CLEAN, occlusion=1.0))
    for folder in ("query", "part_maps/query"):
        assert _hashes(again, folder) == _hashes(occluded, folder)


def test_share_and_kind_of_occluders():
    rngs = [np.random.default_rng([0, i]) for i in range(400)]
    picks = [pick_occluder(rng, 0.3, "both") for rng in rngs]
    assert 0.22 < np.mean([p is not None for p in picks]) < 0.38
    assert {p for p in picks if p} == {"box", "pedestrian"}
    assert {pick_occluder(np.random.default_rng(i), 1.0, "box") for i in range(50)} == {"box"}
    assert {pick_occluder(np.random.default_rng(i), 0.0, "both") for i in range(50)} == {None}
    with pytest.raises(ValueError, match="occlusion=1.5 must be in"):
        SyntheticConfig(occlusion=1.5).validate()
    with pytest.raises(ValueError, match="occluder='car' is unknown"):
        SyntheticConfig(occluder="car").validate()


@pytest.mark.parametrize("kind", ["box", "pedestrian"])
@pytest.mark.parametrize("seed", range(4))
def test_render_blanks_the_part_map_exactly_under_the_occluder(kind, seed):
    camera = sample_camera(np.random.default_rng(seed), 0, SIZE, BACKGROUNDS["street"], ILLUMINATIONS["daylight"])
    ident = sample_identity(np.random.default_rng([seed, 0]))
    shot = sample_shot(np.random.default_rng([seed, 1]), ident, camera, SIZE, misalignment=0.5)
    image, parts = render(ident, shot, camera, SIZE, np.random.default_rng([seed, 3]))
    occluder = sample_occluder(
        np.random.default_rng([seed, 2]), kind, shot, camera, SIZE, PALETTES["market"], parts > 0
    )
    bodies = []
    image_occluded, parts_occluded = render(
        ident,
        shot,
        camera,
        SIZE,
        np.random.default_rng([seed, 3]),
        occlude=lambda body: bodies.append(body) or occluder,
    )
    assert np.array_equal(bodies[0], parts > 0)  # render hands the occluder the person's part pixels
    assert np.array_equal(parts_occluded, np.where(occluder.mask, 0, parts))
    hidden = (occluder.mask & (parts > 0)).sum() / (parts > 0).sum()
    assert 0.15 <= hidden < 0.9  # hides some of the body, not all of it
    far = ~_dilate(occluder.mask, 4)  # beyond the blur's reach
    assert np.array_equal(image_occluded[far], image[far])  # same random streams: untouched away from it
    assert np.abs(image_occluded[occluder.mask].astype(int) - image[occluder.mask]).mean() > 10


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """`mask` grown by `radius` pixels (a square), wrapping at the borders (fine for a conservative test)."""
    out = mask.copy()
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            out |= np.roll(np.roll(mask, dy, 0), dx, 1)
    return out
