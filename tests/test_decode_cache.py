"""The decode cache: arrays equal to decoding each file, keyed on what they depend on, built once under a lock;
and the data module's cached path giving the per-file path's evaluation batches exactly."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reid_lightning.data import decode_cache
from reid_lightning.data.datamodule import ReIDDataModule
from reid_lightning.data.decode_cache import decoded_set
from reid_lightning.data.images import read_image
from reid_lightning.data.transforms import TransformConfig, build_resize
from tests.conftest import ROOT, data_config

CFG = TransformConfig(height=16, width=8)
TINY = {"num_train_ids": 6, "num_test_ids": 4, "num_distractors": 3, "num_junk": 2}


def write_images(folder: Path, count: int = 5) -> tuple[list[Path], list[Path]]:
    """Images of varied sizes (JPEG) and their label maps (PNG), random content."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    images, maps = [], []
    for i in range(count):
        h, w = 40 + 4 * i, 20 + 2 * i
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"{i}.jpg")
        Image.fromarray(rng.integers(0, 7, (h, w), dtype=np.uint8)).save(folder / f"{i}.png")
        images.append(folder / f"{i}.jpg")
        maps.append(folder / f"{i}.png")
    return images, maps


def test_arrays_equal_the_resize_of_each_decoded_file_and_are_reused(tmp_path, monkeypatch):
    images, maps = write_images(tmp_path / "data")
    decoded = decoded_set(images, maps, CFG, tmp_path / "cache", num_part_labels=7)
    assert decoded.images.shape == (5, 3, 16, 8) and decoded.part_maps.shape == (5, 16, 8)
    assert isinstance(decoded.images, np.memmap)
    resize = build_resize(CFG)
    for i, path in enumerate(images):
        assert np.array_equal(decoded.images[i], resize(read_image(path)).numpy())
        from torchvision import tv_tensors

        raw = torch.from_numpy(np.asarray(Image.open(maps[i])).copy())
        assert np.array_equal(decoded.part_maps[i], resize(tv_tensors.Mask(raw)).numpy())
    monkeypatch.setattr(decode_cache, "_build", lambda *a, **k: pytest.fail("rebuilt a complete cache"))
    again = decoded_set(images, maps, CFG, tmp_path / "cache", num_part_labels=7)
    assert again.folder == decoded.folder and np.array_equal(again.images, decoded.images)
    assert [p.name for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")] == [decoded.folder.name]


def test_the_key_changes_with_the_file_list_a_changed_file_the_size_and_the_part_map_folder(tmp_path):
    images, maps = write_images(tmp_path / "data")
    key = decode_cache.cache_key(images, maps, CFG)
    other_maps = [tmp_path / "other" / m.name for m in maps]
    (tmp_path / "other").mkdir()
    for old, new in zip(maps, other_maps, strict=True):
        new.write_bytes(old.read_bytes())
    assert decode_cache.cache_key(images[::-1], maps[::-1], CFG) != key  # the order is the dataset's index
    assert decode_cache.cache_key(images[:4], maps[:4], CFG) != key
    assert decode_cache.cache_key(images, other_maps, CFG) != key
    assert decode_cache.cache_key(images, None, CFG) != key
    assert decode_cache.cache_key(images, maps, TransformConfig(height=32, width=16)) != key
    assert decode_cache.cache_key(images, maps, TransformConfig(height=16, width=8, interpolation="nearest")) != key
    assert decode_cache.cache_key(images, maps, TransformConfig(height=16, width=8, pad=0)) == key  # augmentation: no
    Image.fromarray(np.zeros((41, 21, 3), dtype=np.uint8)).save(images[0])  # a replaced image
    assert decode_cache.cache_key(images, maps, CFG) != key


def test_a_corrupt_image_names_the_file_and_leaves_no_complete_cache(tmp_path):
    images, maps = write_images(tmp_path / "data")
    images[3].write_bytes(b"not a jpeg")
    with pytest.raises(RuntimeError, match=r"cannot read image .*3\.jpg.*replace it"):
        decoded_set(images, maps, CFG, tmp_path / "cache", num_part_labels=7)
    assert [p for p in (tmp_path / "cache").iterdir() if not p.name.startswith(".")] == []
    with pytest.raises(ValueError, match=r"part map .*0\.png holds label 6, allowed 0..3"):
        decoded_set(images[:3], maps[:3], CFG, tmp_path / "cache", num_part_labels=4)


def test_concurrent_processes_wait_for_the_first_builder(tmp_path, monkeypatch):
    images, maps = write_images(tmp_path / "data")
    builds, build = [], decode_cache._build

    def slow_build(*args, **kwargs):
        builds.append(1)
        time.sleep(0.3)  # the others ask meanwhile
        build(*args, **kwargs)

    monkeypatch.setattr(decode_cache, "_build", slow_build)
    folders = []
    workers = [
        threading.Thread(
            target=lambda: folders.append(decoded_set(images, maps, CFG, tmp_path / "cache", num_part_labels=7).folder)
        )
        for _ in range(3)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(builds) == 1 and len(folders) == 3 and len(set(folders)) == 1


def test_cached_evaluation_batches_equal_the_per_file_path(tmp_path):
    def data(cache: bool) -> ReIDDataModule:
        cfg = data_config(
            root=str(tmp_path / "synthetic"),
            options=TINY,
            val_split=None,
            height=32,
            width=16,
            num_workers=0,
            eval_batch_size=64,
            cache=cache,
            cache_dir=str(tmp_path / "cache"),
            part_groups={"background": [0], "upper": [1, 2, 3, 4], "lower": [5, 6]},
        )
        return ReIDDataModule(cfg, load_part_maps=True)

    per_file, cached = data(False), data(True)
    for a, b in zip(per_file.test_dataloader(), cached.test_dataloader(), strict=True):
        assert b["image"].dtype == torch.uint8 and b["part_map"].dtype == torch.uint8
        b = cached.on_after_batch_transfer(b, 0)  # no trainer: evaluation normalisation
        assert set(a) == set(b) and int(b["part_map"].max()) <= 2
        for key in a:
            assert torch.equal(torch.as_tensor(a[key]), torch.as_tensor(b[key])), key
    train = next(iter(cached.train_dataloader()))
    assert train["image"].shape == (32, 3, 32, 16) and train["image"].dtype == torch.uint8
    labels = cached.training.train
    assert [labels[i].pid for i in train["index"].tolist()] == train["pid"].tolist()


def test_a_pickled_set_reopens_its_folder_instead_of_copying_the_arrays(tmp_path):
    import pickle

    images, maps = write_images(tmp_path / "data")
    decoded = decoded_set(images, maps, CFG, tmp_path / "cache", num_part_labels=7)
    payload = pickle.dumps(decoded)
    assert len(payload) < 1000  # 5 x 3 x 16 x 8 bytes of pixels would not fit
    again = pickle.loads(payload)
    assert again.folder == decoded.folder and np.array_equal(again.part_maps, decoded.part_maps)


# ---------------------------------------------------------------- what it serves is what the files hold (issue 23)
def test_an_image_replaced_by_one_of_the_same_size_and_mtime_is_decoded_again(tmp_path):
    rng = np.random.default_rng(1)
    images = [tmp_path / f"{i}.png" for i in range(3)]
    for path in images:  # uncompressed PNGs: same pixel size, same byte size
        Image.fromarray(rng.integers(0, 256, (40, 20, 3), dtype=np.uint8)).save(path, compress_level=0)
    first = decoded_set(images, None, CFG, tmp_path / "cache", num_part_labels=7)
    stat = images[2].stat()
    Image.fromarray(rng.integers(0, 256, (40, 20, 3), dtype=np.uint8)).save(images[2], compress_level=0)
    os.utime(images[2], ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the old mtime restored
    assert images[2].stat().st_size == stat.st_size and images[2].stat().st_mtime_ns == stat.st_mtime_ns
    again = decoded_set(images, None, CFG, tmp_path / "cache", num_part_labels=7)
    assert again.folder != first.folder
    assert np.array_equal(again.images[2], build_resize(CFG)(read_image(images[2])).numpy())
    assert not np.array_equal(again.images[2], first.images[2])


@pytest.mark.parametrize("damage", ["zeroed", "truncated"])
def test_a_damaged_array_file_is_named_and_rebuilt(tmp_path, caplog, damage):
    images, maps = write_images(tmp_path / "data")
    first = decoded_set(images, maps, CFG, tmp_path / "cache", num_part_labels=7)
    expected = np.array(first.images)
    path = first.folder / "images.npy"
    size = path.stat().st_size
    del first
    with open(path, "r+b") as file:
        if damage == "zeroed":
            file.seek(size - 200)
            file.write(b"\0" * 100)
        else:
            file.truncate(size // 2)
    with caplog.at_level("WARNING"):
        again = decoded_set(images, maps, CFG, tmp_path / "cache", num_part_labels=7)
    assert f"Decode cache damaged: {path}" in caplog.text and "rebuilding" in caplog.text
    assert np.array_equal(again.images, expected)
    assert decode_cache.damage(again.folder, 5, (16, 8), with_maps=True) is None


def test_a_listed_file_that_does_not_exist_is_named(tmp_path):
    images, _ = write_images(tmp_path / "data")
    missing = tmp_path / "data" / "gone.jpg"
    with pytest.raises(FileNotFoundError, match=rf"1 of the 6 files of decoding train do not exist \(e.g. {missing}\)"):
        decoded_set([*images, missing], None, CFG, tmp_path / "cache", num_part_labels=7, description="decoding train")


def test_a_cache_that_cannot_fit_is_refused_before_decoding(tmp_path, small_disk):
    images, maps = write_images(tmp_path / "data")
    with pytest.raises(OSError, match=rf"cannot write {small_disk}: No space left on device \(the decode cache needs"):
        decoded_set(images * 400, None, TransformConfig(height=64, width=32), small_disk, num_part_labels=7)
    assert [p.name for p in small_disk.iterdir() if not p.name.startswith(".")] == []


FULL_DISK = """
import shutil, sys
from collections import namedtuple
from pathlib import Path
from reid_lightning.data import decode_cache
from reid_lightning.data.transforms import TransformConfig
images = sorted(Path(sys.argv[1]).glob("*.jpg")) * 400
Usage = namedtuple("Usage", "total used free")
shutil.disk_usage = lambda path: Usage(1 << 40, 0, 1 << 40)  # the check passes: the disk fills during the build
try:
    decode_cache.decoded_set(images, None, TransformConfig(height=64, width=32), sys.argv[2], num_part_labels=7)
except OSError as err:
    print(err)
    sys.exit(3)
"""


def test_a_disk_that_fills_during_the_build_is_a_clear_error_not_sigbus(tmp_path, small_disk):
    """2000 images at 64x32 (12 MB) into a 1 MiB tmpfs; through a writable memory map this died of SIGBUS."""
    write_images(tmp_path / "data")
    proc = subprocess.run(
        [sys.executable, "-c", FULL_DISK, str(tmp_path / "data"), str(small_disk)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 3, (proc.returncode, proc.stderr[-3000:])  # SIGBUS would be -7
    assert "cannot write" in proc.stdout and "images.npy: No space left on device" in proc.stdout
    assert [p.name for p in small_disk.iterdir() if not p.name.startswith(".")] == []  # no .tmp-PID folder left
