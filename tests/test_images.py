"""Reading image files (data/images.py): 16-bit PNGs scaled not saturated, EXIF orientation applied, a corrupt
file named; and the same pixels through the pre-flight check, the decode cache and the deploy tools."""

import ast
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_lightning.data.images import UnreadableImage, read_image, read_rgb, upright_size
from tests.conftest import ROOT


def sixteen_bit_png(path: Path) -> np.ndarray:
    values = (np.arange(64 * 32, dtype=np.uint32).reshape(64, 32) * 31).astype(np.uint16)  # 0..63457
    Image.fromarray(values).save(path)
    assert Image.open(path).mode in ("I;16", "I")
    return values


def test_a_16_bit_png_is_scaled_to_8_bits_not_saturated(tmp_path):
    values = sixteen_bit_png(tmp_path / "deep.png")
    rgb = read_rgb(tmp_path / "deep.png")
    assert rgb.shape == (64, 32, 3) and rgb.dtype == np.uint8
    assert np.array_equal(rgb[..., 0], np.round(values / 257).astype(np.uint8))  # 65535 -> 255, 257 -> 1
    assert (rgb == 255).mean() < 0.01  # PIL's convert("RGB") put 99.6 % of the pixels at 255
    assert np.array_equal(rgb[..., 0], rgb[..., 2])


def test_exif_orientation_is_applied_and_the_size_follows(tmp_path):
    pixels = np.zeros((40, 20, 3), dtype=np.uint8)
    pixels[:10] = 255  # a white band at the top of the stored picture
    image = Image.fromarray(pixels)
    exif = image.getexif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90 degrees clockwise
    image.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    upright = read_image(tmp_path / "phone.jpg")
    assert tuple(upright.shape) == (3, 20, 40) and upright_size(tmp_path / "phone.jpg") == (20, 40)
    assert upright[:, :, -10:].float().mean() > 200 and upright[:, :, :10].float().mean() < 50  # band now right


def test_a_corrupt_or_missing_file_is_named(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(UnreadableImage, match=r"cannot read image .*bad\.jpg.*replace it"):
        read_image(tmp_path / "bad.jpg")
    with pytest.raises(UnreadableImage, match=r"cannot read image .*gone\.jpg: the file does not exist"):
        read_image(tmp_path / "gone.jpg")


def test_the_check_the_cache_and_deploy_read_16_bit_images_the_same_way(tmp_path):
    from reid_lightning.data.decode_cache import decoded_set
    from reid_lightning.data.transforms import TransformConfig, build_resize
    from reid_lightning.data.verify import Item, check_item
    from reid_lightning.deploy.inputs import to_tensors

    sixteen_bit_png(tmp_path / "deep.png")
    assert check_item(Item(tmp_path / "deep.png"), 7) == []
    cfg = TransformConfig(height=16, width=8)
    cached = decoded_set([tmp_path / "deep.png"], None, cfg, tmp_path / "cache", num_part_labels=7)
    assert np.array_equal(cached.images[0], build_resize(cfg)(read_image(tmp_path / "deep.png")).numpy())
    assert cached.images.max() < 255 or (cached.images == 255).mean() < 0.05
    assert np.array_equal(
        to_tensors(str(tmp_path / "deep.png"), False, "input 0")[0].numpy(), read_image(tmp_path / "deep.png").numpy()
    )


def imports_of(module: Path) -> set[str]:
    tree = ast.parse(module.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}


def test_the_dataset_and_the_decode_cache_do_not_import_each_other():
    data = ROOT / "reid_lightning" / "data"
    assert "reid_lightning.data.dataset" not in imports_of(data / "decode_cache.py")
    for module in ("dataset.py", "decode_cache.py", "verify.py"):
        assert "reid_lightning.data.images" in imports_of(data / module)
    assert "reid_lightning.data.images" in imports_of(ROOT / "reid_lightning" / "deploy" / "inputs.py")
