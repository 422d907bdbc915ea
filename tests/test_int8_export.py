"""int8 exports: reid-export --dtype int8 writes a statically quantised ONNX file calibrated on training crops
of the tiny synthetic set, records the quantisation in its contract, and runs in the FeatureExtractor (and
reid-embed) with embeddings close to fp32 PyTorch on crops it was not calibrated on."""

import json
from pathlib import Path

import numpy as np
import pytest

from reid_lightning import FeatureExtractor
from reid_lightning.deploy.cli import embed_main, export_main, find_images
from reid_lightning.deploy.export import export_model, read_contract
from tests.test_deploy import lightning_checkpoint, tiny_model

MIN_COSINE = 0.98  # int8 against fp32 PyTorch, per crop: the direction (what cosine ranking uses) survives


@pytest.fixture(scope="module")
def tiny_train(tmp_path_factory) -> Path:
    """The training crops of synthetic_tiny, generated once (a few seconds)."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from reid_lightning.data.datasets import load_dataset

    root = tmp_path_factory.mktemp("data") / "synthetic_tiny"
    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=["data=synthetic_tiny", f"data.root={root}"])
    load_dataset("synthetic", root, **OmegaConf.to_container(cfg.data.options))
    return root / "bounding_box_train"


def test_int8_needs_calibration_and_onnx():
    model = tiny_model(backbone={"name": "dcti"})
    with pytest.raises(ValueError, match="calibration"):
        export_model(model, "unused", formats=("onnx",), dtypes=("int8",))
    with pytest.raises(ValueError, match="--format onnx"):
        export_model(model, "unused", formats=("torchscript",), dtypes=("int8",), calibration=[1])


@pytest.mark.slow
def test_int8_file_runs_close_to_fp32_and_records_its_quantisation(tmp_path, tiny_train, capsys):
    checkpoint = lightning_checkpoint(tiny_model(backbone={"name": "dcti"}), tmp_path / "last.ckpt")
    export_main(
        [
            str(checkpoint),
            "-o",
            str(tmp_path / "tiny"),
            "--format",
            "onnx",
            "--dtype",
            "int8",
            "--calibration",
            str(tiny_train),
            "--calibration-count",
            "24",
        ]
    )
    printed = capsys.readouterr().out
    assert "tiny_int8.onnx (onnx, int8; vs PyTorch fp32:" in printed and "min cosine" in printed
    contract = read_contract(tmp_path / "tiny_int8.onnx")
    assert contract["quantization"].startswith("int8 static") and "per-channel" in contract["quantization"]
    assert contract["quantization_calibration"] == f"24 crops from {tiny_train}"
    assert contract["input_images"] == "float32 (batch, 3, 64, 32)"

    crops = find_images(tiny_train)[-6:]  # compared on crops beside those drawn for calibration
    int8 = FeatureExtractor(tmp_path / "tiny_int8.onnx")(crops)
    fp32 = FeatureExtractor(checkpoint, device="cpu")(crops)
    assert int8.shape == fp32.shape == (6, fp32.shape[1])
    assert np.allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)  # normalised around the file
    assert (int8 * fp32).sum(1).min() > MIN_COSINE

    out = tmp_path / "feats.npz"
    embed_main([str(tmp_path / "tiny_int8.onnx"), str(tiny_train), "-o", str(out)])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == len(find_images(tiny_train)) and summary["dim"] == fp32.shape[1]
