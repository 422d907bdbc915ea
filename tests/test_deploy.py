"""The FeatureExtractor, TorchScript export and reid-embed on small random-init models (fast, no ONNX).

The extractor must feed the model exactly what evaluation feeds it (the suite's eval transform), and give
the same features whatever form an image arrives in: file, PIL image, BGR array, crop of a frame. Files of
other suites and malformed images are refused with a message naming the problem. ONNX files and the full
backbone x head matrix are in test_export_parity.py (slow).
"""

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image

from reid_lightning import FeatureExtractor
from reid_lightning.data.transforms import TransformConfig, apply_joint, build_transform
from reid_lightning.deploy.cli import embed_main
from reid_lightning.deploy.embedding_model import EmbeddingModel
from reid_lightning.deploy.export import example_inputs, export_model, read_contract
from reid_lightning.deploy.preprocessing import Preprocessing
from reid_lightning.models.module import ReIDModule

SIZE = (64, 32)


def tiny_model(partition: str = "global", backbone: dict | None = None, **hparams) -> ReIDModule:
    """A random-init model at 64x32 (OSNet x0.25 unless `backbone`) in eval mode, with BNNeck.

    Its batch norms hold the exact statistics of a batch of random images, as a trained model's hold those
    of its data: with the initial ones (mean 0, variance 1) activations grow layer by layer (NASNet's
    embedding reaches 1e4) and float32 rounding hides any real difference between runtimes.
    """
    torch.manual_seed(0)
    options = {"sigma": 4.0} if partition == "gaussian_mask" else {}
    model = ReIDModule(
        backbone=backbone or {"name": "osnet", "width": 0.25},
        partition={"name": partition, **options},
        classifier={"name": "shared", "bnneck": True},
        optimizer={"name": "adam", "lr": 1e-3},
        scheduler={"name": "none"},
        num_classes=5,
        image_size=SIZE,
        **hparams,
    )
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average: one pass gives the batch's exact statistics
    maps = torch.randint(0, 7, (16, *SIZE)) if model.requires_part_maps else None
    with torch.no_grad():
        model.train()(torch.randn(16, 3, *SIZE), maps)
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()


def person(seed: int = 0, size: tuple[int, int] = (100, 50)) -> np.ndarray:
    """An RGB uint8 image (H, W, 3) of another size than the model's input."""
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def eval_transform_embedding(model: ReIDModule, image: np.ndarray, part_map: np.ndarray | None = None):
    """What evaluation computes for one image: the data module's eval transform, then model.embed."""
    transform = build_transform(TransformConfig(height=SIZE[0], width=SIZE[1]), train=False)
    tensor = torch.from_numpy(image).permute(2, 0, 1)
    mask = None if part_map is None else torch.from_numpy(part_map)
    image_t, mask_t = apply_joint(transform, None, tensor, mask)
    with torch.no_grad():
        return model.embed(image_t[None], None if mask_t is None else mask_t[None].long())[0].numpy()


def test_extractor_equals_embed_on_the_eval_transform():
    model = tiny_model()
    extractor = FeatureExtractor(model, device="cpu", normalize=False)
    features = extractor(person())
    assert features.shape == (1, extractor.embedding_dim) and features.dtype == np.float32
    np.testing.assert_allclose(features[0], eval_transform_embedding(model, person()), rtol=0, atol=1e-6)


def test_same_features_for_a_path_a_pil_image_a_bgr_array_and_a_crop(tmp_path):
    rgb = person()
    path = tmp_path / "a.png"
    Image.fromarray(rgb).save(path)
    frame = np.zeros((300, 400, 3), np.uint8)
    frame[50:150, 200:250] = rgb[..., ::-1]  # the person in a BGR frame, as OpenCV gives it
    extractor = FeatureExtractor(tiny_model(), device="cpu", batch_size=2)
    inputs = [path, str(path), Image.fromarray(rgb), rgb[..., ::-1].copy()]
    features = extractor(inputs, bgr=True)  # bgr concerns arrays only: files and PIL images are RGB
    crops = extractor((frame, np.array([[200.2, 49.6, 250.0, 150.4], [390, 280, 500, 400]])), bgr=True)
    assert features.shape == (4, extractor.embedding_dim) and crops.shape == (2, extractor.embedding_dim)
    for row in [*features[1:], crops[0]]:
        np.testing.assert_allclose(row, features[0], rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)  # L2-normalised by default
    assert not np.allclose(crops[1], crops[0])  # a box clipped at the frame's corner: another crop
    as_torch = FeatureExtractor(tiny_model(), device="cpu", output="torch", flip=True)(rgb)
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.float32 and as_torch.shape == (1, 128)


def test_mask_head_takes_one_part_map_per_image():
    model = tiny_model("gaussian_mask")
    part_map = np.random.default_rng(1).integers(0, 7, (100, 50), dtype=np.uint8)
    extractor = FeatureExtractor(model, device="cpu", normalize=False)
    features = extractor([person(), person()], part_maps=[part_map, part_map])  # a batch of 2: other rounding
    # float32 rounding of a batch of 2 against 1 reaches 1.1e-5 on features of up to 20 (CPU-dependent kernels)
    np.testing.assert_allclose(features[1], eval_transform_embedding(model, person(), part_map), rtol=1e-5, atol=5e-5)
    with pytest.raises(ValueError, match="needs one part map per image"):
        extractor(person())
    with pytest.raises(ValueError, match=r"part map 0 has shape \(64, 32\), its image \(100, 50\)"):
        extractor(person(), part_maps=[np.zeros(SIZE, np.uint8)])
    with pytest.raises(ValueError, match=r"got 1 part maps for more images \(image 1 has none\)"):
        extractor([person(), person()], part_maps=[part_map])
    with pytest.raises(ValueError, match="got 2 part maps for 1 images"):
        extractor([person()], part_maps=[part_map, part_map])
    with pytest.raises(ValueError, match=r"holds labels 9..9; this model takes 0..6"):
        extractor(person(), part_maps=[np.full((100, 50), 9, np.uint8)])


@pytest.mark.parametrize(
    "bad, message",
    [
        (np.zeros((100, 50, 3), np.float32), "float32 array; expected uint8"),
        (np.zeros((3, 100, 50), np.uint8), "looks channels-first"),
        (np.zeros((100, 50), np.uint8), r"expected H x W x 3 \(colour\) \(grey"),
        (torch.zeros(3, 100, 50, dtype=torch.uint8), r"input 0 is a Tensor of shape \(3, 100, 50\).*permute"),
        (np.zeros((2, 100, 50, 3), np.uint8), r"expected H x W x 3 .*a batch: pass list\(array\)"),
        ("missing.jpg", "image file missing.jpg does not exist"),
        (
            (np.zeros((100, 50, 3), np.uint8), [[60, 0, 80, 20]]),
            "box 0 of input 0, .* is empty inside the 50x100 frame",
        ),
    ],
)
def test_bad_images_get_clear_errors(bad, message):
    extractor = FeatureExtractor(tiny_model(), device="cpu")
    with pytest.raises((ValueError, TypeError, FileNotFoundError), match=message):
        extractor(bad)


def lightning_checkpoint(model: ReIDModule, path):
    """Write `model` as train.py's ModelCheckpoint does: Lightning's own checkpoint format."""
    trainer = pl.Trainer(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.strategy.connect(model)
    trainer.save_checkpoint(path)
    return path


def test_checkpoint_gives_the_model_and_its_preprocessing(tmp_path):
    stored = {"height": 64, "width": 32, "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25], "interpolation": "bicubic"}
    model = tiny_model(preprocessing=stored)
    extractor = FeatureExtractor(lightning_checkpoint(model, tmp_path / "last.ckpt"), device="cpu")
    assert extractor.preprocessing == Preprocessing(64, 32, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), "bicubic")
    np.testing.assert_allclose(extractor(person()), FeatureExtractor(model, device="cpu")(person()), atol=1e-6)
    old = lightning_checkpoint(tiny_model(), tmp_path / "old.ckpt")  # written before preprocessing was stored
    assert FeatureExtractor(old, device="cpu").preprocessing == Preprocessing(64, 32)  # ImageNet mean/std


def test_files_of_other_suites_are_refused_with_the_fix(tmp_path):
    weights = tiny_model().backbone.state_dict()
    torch.save(weights, tmp_path / "plain.pth")
    torch.save({"state_dict": weights, "epoch": 60, "rank1": 0.94, "optimizer": {}}, tmp_path / "torchreid.pth.tar")
    (tmp_path / "notes.ckpt").write_text("not a checkpoint")
    for name, kind in [
        ("plain.pth", "a plain state dict"),
        ("torchreid.pth.tar", "a Torchreid checkpoint"),
        ("notes.ckpt", "cannot read checkpoint"),
    ]:
        with pytest.raises(ValueError, match=kind) as err:
            FeatureExtractor(tmp_path / name)
        assert str(tmp_path / name) in str(err.value)
        assert name == "notes.ckpt" or "backbone.pretrained=<file>" in str(err.value)
    with pytest.raises(FileNotFoundError, match="missing.ckpt does not exist"):
        FeatureExtractor(tmp_path / "missing.ckpt")


@pytest.mark.parametrize("partition", ["global", "gaussian_mask"])
def test_torchscript_export_matches_pytorch_and_carries_the_contract(tmp_path, partition):
    model = tiny_model(partition, backbone={"name": "dcti"})  # few modules: traced in a second, not ten
    written = export_model(model, tmp_path / "tiny", formats=("torchscript",), dtypes=("fp32", "fp16"))
    assert [w.path.name for w in written] == ["tiny.torchscript", "tiny_fp16.torchscript"]
    assert written[0].max_abs_diff == 0.0  # traced PyTorch runs PyTorch's kernels
    net, half = EmbeddingModel(model), torch.jit.load(str(written[1].path))
    inputs = example_inputs(net, Preprocessing(*SIZE), 4, "fp32", torch.device("cpu"), seed=2)
    with torch.no_grad(), torch.jit.optimized_execution(False):  # fp16 rounds every layer (~1e-3); the
        cosine = torch.cosine_similarity(half(inputs[0].half(), *inputs[1:]).float(), net(*inputs))  # direction stays
    assert cosine.min() > 0.99
    contract = read_contract(written[1].path)
    assert Preprocessing.from_metadata(contract) == Preprocessing(64, 32)
    assert contract["input_images"] == "float16 (batch, 3, 64, 32)" and contract["input_color"] == "RGB"
    assert contract["input_names"] == ("images, part_maps" if partition == "gaussian_mask" else "images")
    scripted = torch.jit.load(str(written[0].path))
    for batch in (1, 17):
        inputs = (torch.randn(batch, 3, *SIZE),) + (
            (torch.randint(0, 7, (batch, *SIZE), dtype=torch.uint8),) if net.requires_part_maps else ()
        )
        with torch.no_grad(), torch.jit.optimized_execution(False):  # no profiling runs per new batch size
            assert (scripted(*inputs) - net(*inputs)).abs().max() <= 1e-5


def test_export_refuses_unknown_formats_and_old_opsets(tmp_path):
    with pytest.raises(ValueError, match="unknown export format or dtype 'tflite'"):
        export_model(tiny_model(), tmp_path / "m", formats=("tflite",))
    with pytest.raises(ValueError, match="opset 13 is too old; use 17 or newer"):
        export_model(tiny_model(), tmp_path / "m", opset=13)


def test_reid_embed_writes_features_and_paths(tmp_path, capsys):
    checkpoint = lightning_checkpoint(tiny_model(), tmp_path / "last.ckpt")
    folder = tmp_path / "crops"
    for index, name in enumerate(["b/2.jpg", "a/1.png", "c.png"]):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(person(index)).save(folder / name, quality=100)
    embed_main([str(checkpoint), str(folder), "-o", str(tmp_path / "out" / "crops.npz"), "--batch-size", "2"])
    saved = np.load(tmp_path / "out" / "crops.npz")
    assert list(saved["paths"]) == ["a/1.png", "b/2.jpg", "c.png"]  # sorted relative paths, one per row
    assert (tmp_path / "out" / "crops.txt").read_text().splitlines() == list(saved["paths"])
    expected = FeatureExtractor(checkpoint, device="cpu")([folder / p for p in saved["paths"]])
    np.testing.assert_allclose(saved["features"], expected, atol=1e-6)
    assert '"images": 3' in capsys.readouterr().out
    with pytest.raises(SystemExit, match="reid-embed: error: no images"):
        embed_main([str(checkpoint), str(tmp_path / "out"), "-o", str(tmp_path / "x.npy")])
