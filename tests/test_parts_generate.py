"""The pose-based generator on real pedestrian crops (tests/fixtures/pedestrians, see its NOTICE).

Needs the `parts` extra (mediapipe); skipped cleanly without it.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("mediapipe")

from reid_lightning.parts.cli import main  # noqa: E402
from reid_lightning.parts.generate import FALLBACK_BOX, generate_part_maps, make_part_map  # noqa: E402
from reid_lightning.parts.pose import PoseModel  # noqa: E402
from reid_lightning.parts.rasterize import split_by_height  # noqa: E402
from tests.conftest import data_config

FIXTURE = Path(__file__).parent / "fixtures" / "pedestrians"
TRAIN = "bounding_box_train"


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The fixture copied to a temporary root, with maps generated once for the tests below."""
    root = tmp_path_factory.mktemp("pedestrians")
    shutil.copytree(FIXTURE / TRAIN, root / TRAIN)
    summary = generate_part_maps(root, workers=1, progress=False)
    return root, summary


def mean_rows(labels: np.ndarray) -> dict[str, float]:
    rows = np.arange(labels.shape[0])[:, None].repeat(labels.shape[1], axis=1)
    return {
        name: rows[np.isin(labels, parts)].mean() if np.isin(labels, parts).any() else np.nan
        for name, parts in (("head", [1]), ("torso", [2]), ("legs", [5, 6]))
    }


def test_fixture_is_small_real_and_market_named():
    images = sorted((FIXTURE / TRAIN).glob("*.jpg"))
    assert 20 <= len(images) <= 30
    assert sum(p.stat().st_size for p in images) < 1_000_000
    assert (FIXTURE / "NOTICE").is_file()
    for path in images:
        with Image.open(path) as img:
            assert img.size == (64, 128)


def test_generator_finds_people_and_draws_them_upright(generated):
    root, summary = generated
    images = sorted((root / TRAIN).glob("*.jpg"))
    assert summary.images == summary.written == len(images) and not summary.failures
    assert summary.pose >= 0.9 * len(images)  # a person found in nearly every crop
    with_arms = 0
    for image in images:
        with Image.open(root / "part_maps" / TRAIN / f"{image.stem}.png") as img:
            assert img.mode == "L"
            labels = np.asarray(img)
        assert labels.shape == (128, 64) and labels.max() <= 6
        rows = mean_rows(labels)
        assert rows["head"] < rows["torso"] < rows["legs"], image.name
        with_arms += bool(np.isin(labels, [3, 4]).any())
    assert with_arms >= 0.9 * len(images)
    written = json.loads((root / "part_maps" / "summary.json").read_text())
    assert written["images"] == len(images) and written["pose"] == summary.pose
    assert written["fallback_rate"] == pytest.approx(summary.fallback_rate, abs=1e-4)


def test_rerun_skips_existing_maps_and_fills_gaps(generated):
    root, _ = generated
    victim = sorted((root / "part_maps" / TRAIN).glob("*.png"))[0]
    victim.unlink()
    summary = generate_part_maps(root, workers=1, progress=False)
    assert (summary.written, summary.skipped_existing) == (1, summary.images - 1)
    assert victim.is_file()


def test_no_person_falls_back_to_the_box():
    model = PoseModel()
    try:
        labels, method = make_part_map(np.full((128, 64, 3), 128, np.uint8), model)
    finally:
        model.close()
    assert method == FALLBACK_BOX
    assert (labels == split_by_height((128, 64))).all()


def test_cli_with_worker_processes_reports_failures(tmp_path, capsys):
    root = tmp_path / "root"
    (root / "query").mkdir(parents=True)
    for image in sorted((FIXTURE / TRAIN).glob("*.jpg"))[:3]:
        shutil.copy(image, root / "query" / image.name)
    (root / "query" / "0099_c1s1_000001_01.jpg").write_bytes(b"not a jpeg")
    main(["generate", "--root", str(root), "--workers", "2", "--no-progress"])
    assert "failures 1" in capsys.readouterr().out
    summary = json.loads((root / "part_maps" / "summary.json").read_text())
    assert (summary["written"], summary["workers"]) == (3, 2)
    assert summary["failures"][0]["image"].endswith("0099_c1s1_000001_01.jpg")
    assert len(list((root / "part_maps" / "query").glob("*.png"))) == 3


@pytest.mark.slow
def test_data_module_trains_one_step_on_generated_maps(generated, tmp_path):
    """Generated maps feed the data module and a Gaussian-mask model for one training step."""
    import pytorch_lightning as pl
    import torch

    from reid_lightning.data import datamodule
    from reid_lightning.models import module

    torch.set_num_threads(1)
    source, _ = generated
    root = tmp_path / "market"
    shutil.copytree(source / TRAIN, root / TRAIN)
    shutil.copytree(source / "part_maps" / TRAIN, root / "part_maps" / TRAIN)
    # query / gallery: two train crops under other cameras (the data module needs both splits)
    for split, camera in (("query", "c2"), ("bounding_box_test", "c3")):
        (root / split).mkdir()
        (root / "part_maps" / split).mkdir(parents=True)
        for image in sorted((source / TRAIN).glob("*.jpg"))[:2]:
            name = image.name.replace("_c1", f"_{camera}")
            shutil.copy(image, root / split / name)
            shutil.copy(
                source / "part_maps" / TRAIN / f"{image.stem}.png",
                root / "part_maps" / split / f"{Path(name).stem}.png",
            )
    data = datamodule.ReIDDataModule(
        data_config(name="market1501", root=str(root), batch_size=8, val_split=None, num_workers=0), load_part_maps=True
    )
    data.setup("fit")
    batch = next(iter(data.train_dataloader()))
    assert batch["part_map"].shape == (8, 128, 64) and int(batch["part_map"].max()) <= 6
    model = module.ReIDModule(
        backbone={"name": "osnet", "pretrained": False},
        partition={"name": "gaussian_mask", "sigma": 8.0},
        classifier={"name": "shared"},
        optimizer={"name": "sgd", "lr": 0.01},
        scheduler={"name": "none"},
        num_classes=data.num_classes,
        image_size=(data.cfg.height, data.cfg.width),
    )
    before = [p.detach().clone() for p in model.parameters()]
    trainer = pl.Trainer(
        max_steps=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(model, datamodule=data)
    assert trainer.global_step == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
