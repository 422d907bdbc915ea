"""Exported files compute what PyTorch computes: every thesis backbone x {global, stripes, gaussian_mask}.

Each model (random init, batch-norm statistics of random images, eval mode, 64x32 input) is exported to
ONNX (torch.onnx dynamo exporter) and TorchScript at batch 2 and run at batch 1 and 17 (ONNX Runtime on
the CPU, torch.jit.load). fp32 outputs must match the PyTorch module to max |diff| <= 1e-4 on the
L2-normalised embeddings that trackers compare, and to 3e-4 on the raw embeddings relative to their scale
(max(1, max |embedding|)): NASNet's raw values reach the hundreds in these random networks, and ONNX
Runtime's kernels round differently (max |diff| / max |embedding| ~1e-5 to 1.3e-4 for NASNet, depending on
the CPU's kernels (1.3e-4 with stripes on an AMD EPYC, ONNX Runtime 1.32), ~1e-6 for the others).
TorchScript runs PyTorch's own kernels and matches exactly. Slow (an ONNX export takes 4-25 s per model on
an idle 2-core machine, minutes on a busy one): `pytest -m slow tests/test_export_parity.py`.
"""

import numpy as np
import pytest
import torch

from reid_lightning.deploy.cli import export_main
from reid_lightning.deploy.embedding_model import EmbeddingModel
from reid_lightning.deploy.export import ExportError, example_inputs, export_model, read_contract, run_exported
from reid_lightning.deploy.preprocessing import Preprocessing
from tests.test_deploy import SIZE, lightning_checkpoint, tiny_model

BACKBONES = ["osnet", "nasnet", "mobilenetv2", "dcti", "resnet50"]
PARTITIONS = ["global", "stripes", "gaussian_mask"]


def l2_normalized(features: np.ndarray) -> np.ndarray:
    return features / np.linalg.norm(features, axis=1, keepdims=True)


@pytest.mark.slow
@pytest.mark.parametrize("partition", PARTITIONS)
@pytest.mark.parametrize("backbone", BACKBONES)
def test_onnx_and_torchscript_equal_pytorch(tmp_path, backbone, partition, one_torch_thread):
    model = tiny_model(partition, backbone={"name": backbone})
    written = export_model(model, tmp_path / backbone, formats=("onnx", "torchscript"), check=False)
    net, preprocessing = EmbeddingModel(model), Preprocessing(*SIZE)
    for batch in (1, 17):
        inputs = example_inputs(net, preprocessing, batch, "fp32", torch.device("cpu"), seed=batch)
        with torch.no_grad():
            expected = net(*inputs).numpy()
        scale = max(1.0, float(np.abs(expected).max()))
        for exported in written:
            got = run_exported(exported.path, inputs)
            assert got.shape == expected.shape == (batch, net.embedding_dim)
            assert np.abs(got - expected).max() <= 3e-4 * scale, (exported.path.name, batch)
            assert np.abs(l2_normalized(got) - l2_normalized(expected)).max() <= 1e-4, (exported.path.name, batch)


@pytest.mark.slow
def test_onnx_fp16_and_the_contract_from_a_checkpoint(tmp_path, capsys, one_torch_thread):
    """reid-export on a train.py-style checkpoint of a mask head: fp32 and fp16 ONNX with two inputs."""
    checkpoint = lightning_checkpoint(tiny_model("gaussian_mask"), tmp_path / "last.ckpt")
    export_main(
        [
            str(checkpoint),
            "-o",
            str(tmp_path / "osnet_x0_25_test"),
            "--format",
            "onnx",
            "--dtype",
            "fp32",
            "fp16",
            "--normalize",
        ]
    )
    printed = capsys.readouterr().out
    assert "Input contract (stored in each file's metadata): RGB, resized to 64x32" in printed
    assert "wrote" in printed and "osnet_x0_25_test_fp16.onnx (onnx, fp16; vs PyTorch fp32: max |diff|" in printed
    import onnx

    for name, dtype in [("osnet_x0_25_test.onnx", "float32"), ("osnet_x0_25_test_fp16.onnx", "float16")]:
        graph = onnx.load(str(tmp_path / name)).graph
        assert [i.name for i in graph.input] == ["images", "part_maps"]
        assert graph.input[0].type.tensor_type.shape.dim[0].dim_param  # a named, dynamic batch dimension
        contract = read_contract(tmp_path / name)
        assert contract["input_images"] == f"{dtype} (batch, 3, 64, 32)"
        assert contract["embedding_l2_normalized"] == "true" and contract["input_mean"] == "[0.485, 0.456, 0.406]"
    model = tiny_model("gaussian_mask")
    net = EmbeddingModel(model, normalize=True)
    inputs = example_inputs(net, Preprocessing(*SIZE), 5, "fp16", torch.device("cpu"), seed=3)
    with torch.no_grad():
        expected = net(inputs[0].float(), inputs[1]).numpy()
    got = run_exported(tmp_path / "osnet_x0_25_test_fp16.onnx", inputs)  # ONNX Runtime's CPU runs fp16
    assert got.dtype == np.float16 and (got.astype(np.float32) * expected).sum(axis=1).min() > 0.99  # cosine


@pytest.mark.slow
def test_a_head_the_exporter_cannot_capture_is_named_with_the_format(tmp_path, monkeypatch, one_torch_thread):
    """Python control flow on tensor values cannot become an ONNX graph: the error names the pair and a way out."""
    model = tiny_model()

    def branching(feature_map, part_maps=None):
        pooled = feature_map.mean(dim=(2, 3)).unsqueeze(1)  # (B, 1, C)
        return pooled if pooled.sum() > 0 else -pooled

    monkeypatch.setattr(model.head.partition, "forward", branching)
    with pytest.raises(ExportError, match=r"cannot export backbone=osnet with partition=global to onnx \(fp32\)"):
        export_model(model, tmp_path / "m", formats=("onnx",))
