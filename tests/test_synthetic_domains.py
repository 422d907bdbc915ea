"""Synthetic domains: domain b differs in measurable style, keeps the identity rules, respects its camera count;
the default domain's output and manifest are unchanged."""

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_lightning.data.datasets import load_dataset
from reid_lightning.data.generator import MANIFEST, SyntheticConfig, generate
from reid_lightning.data.generator.plan import plan
from reid_lightning.data.generator.writer import manifest_config

TINY = SyntheticConfig(num_train_ids=4, num_test_ids=4, num_distractors=3, num_junk=2, seed=3)
NAME = re.compile(r"^(-1|\d{4})_c([1-9])s[1-6]_\d{6}_\d{2}\.jpg$")
VERSION_2_KNOBS = [
    "num_train_ids",
    "num_test_ids",
    "num_cameras",
    "cameras_per_id",
    "train_images_per_camera",
    "query_images_per_camera",
    "gallery_images_per_camera",
    "num_distractors",
    "num_junk",
    "image_size",
    "misalignment",
    "part_drop_prob",
    "part_erode_prob",
    "part_mislabel_prob",
    "seed",
]


def _pixels(root: Path) -> np.ndarray:
    """All train images stacked, (N, H, W, 3) float."""
    paths = sorted((root / "bounding_box_train").glob("*.jpg"))
    return np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) for p in paths])


@pytest.fixture(scope="module")
def two_domains(tmp_path_factory) -> tuple[Path, Path]:
    a, b = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    generate(a, TINY)
    generate(b, replace(TINY, domain="b"))
    return a, b


def test_domain_b_is_brighter_warmer_taller_and_has_eight_cameras(two_domains):
    a, b = two_domains
    pixels_a, pixels_b = _pixels(a), _pixels(b)
    assert pixels_a.shape[1:] == (128, 64, 3) and pixels_b.shape[1:] == (144, 64, 3)
    assert pixels_b.mean() > pixels_a.mean() + 40  # brighter: warm indoor light, light walls
    warmth_a = (pixels_a[..., 0] - pixels_a[..., 2]).mean()
    warmth_b = (pixels_b[..., 0] - pixels_b[..., 2]).mean()
    assert warmth_b > warmth_a + 25  # the light's colour: red over blue
    manifest = json.loads((b / MANIFEST).read_text())["config"]
    assert manifest["num_cameras"] == 8 and manifest["domain"] == "b" and manifest["palette"] == "summer"
    for split in ("bounding_box_train", "query", "bounding_box_test"):
        assert all(int(NAME.match(p.name).group(2)) <= 8 for p in (b / split).iterdir())


def test_synthetic_loader_parses_the_domain_cameras(two_domains):
    _, b = two_domains
    stamp = (b / MANIFEST).stat().st_mtime_ns
    splits = load_dataset(
        "synthetic", b, num_train_ids=4, num_test_ids=4, num_distractors=3, num_junk=2, seed=3, domain="b"
    )
    assert (b / MANIFEST).stat().st_mtime_ns == stamp  # reused as generated, not regenerated
    cameras = {s.camid for s in splits.train + splits.query + splits.gallery}
    assert max(cameras) > 5 and cameras <= set(range(8))  # c7, c8 parse (0-based camids 6, 7)
    assert splits.num_train_pids == 4 and len({s.pid for s in splits.query}) == 4


def test_same_identity_rules_in_both_domains():
    for config in (TINY, replace(TINY, domain="b"), replace(TINY, domain="b", num_cameras=3, cameras_per_id=(2, 3))):
        jobs = plan(config)
        cams = defaultdict(lambda: defaultdict(set))  # folder -> pid -> cameras
        for job in jobs:
            pid, cam = NAME.match(job.name).groups()
            cams[job.folder][pid].add(int(cam))
        num_cameras = config.resolved().num_cameras
        assert {int(c) for per_pid in cams.values() for cs in per_pid.values() for c in cs} <= set(
            range(1, num_cameras + 1)
        )
        assert len(cams["bounding_box_train"]) == 4 and len(cams["query"]) == 4
        assert sum(j.name.startswith("0000_") for j in jobs) == 3 and sum(j.name.startswith("-1_") for j in jobs) == 2
        for pid, query_cams in cams["query"].items():  # every query has a gallery match in another camera
            assert len(query_cams) >= 2 and cams["bounding_box_test"][pid] == query_cams
        assert len({j.name for j in jobs}) == len(jobs)


def test_camera_count_up_to_nine_gives_market_style_names():
    jobs = plan(replace(TINY, num_cameras=9, cameras_per_id=(8, 9), num_train_ids=10))
    used = {int(NAME.match(j.name).group(2)) for j in jobs}
    assert used == set(range(1, 10))
    with pytest.raises(ValueError, match="num_cameras=10.*2..9"):
        replace(TINY, num_cameras=10).validate()


def test_style_knobs_default_to_the_domain_and_can_be_mixed():
    b = SyntheticConfig(domain="b").resolved()
    assert (b.palette, b.illumination, b.background, b.num_cameras, b.image_size) == (
        "summer",
        "warm_indoor",
        "mall",
        8,
        (144, 64),
    )
    mixed = SyntheticConfig(domain="b", num_cameras=4, palette="market").resolved()
    assert (mixed.palette, mixed.num_cameras, mixed.illumination) == ("market", 4, "warm_indoor")
    with pytest.raises(ValueError, match="domain='c' is unknown.*'a', 'b'"):
        SyntheticConfig(domain="c").validate()
    with pytest.raises(ValueError, match="palette='neon' is unknown"):
        SyntheticConfig(palette="neon").validate()
    with pytest.raises(ValueError, match="no knob 'ocluson'; known knobs: .*; close matches: occlusion"):
        SyntheticConfig.from_options(domain="b", ocluson=0.3)


def test_default_domain_output_and_manifest_unchanged(two_domains, tmp_path):
    """The default manifest records exactly the knobs of generator version 2 (existing sets stay valid), and
    spelling out domain a's style gives the same bytes as leaving it to the default."""
    assert list(manifest_config(SyntheticConfig())) == VERSION_2_KNOBS
    assert [f.name for f in fields(SyntheticConfig) if f.metadata["since"] <= 2] == VERSION_2_KNOBS
    explicit = replace(
        TINY,
        domain="a",
        palette="market",
        illumination="daylight",
        background="street",
        num_cameras=6,
        image_size=(128, 64),
        occlusion=0.0,
    )
    generate(tmp_path, explicit)
    a, _ = two_domains

    def hashes(root: Path) -> dict[str, str]:
        return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*.*")}

    assert hashes(tmp_path) == hashes(a)
