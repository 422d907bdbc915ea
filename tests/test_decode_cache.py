"""The decode cache: arrays equal to decoding each file, keyed on what they depend on, built once under a lock;
and the data module's cached path giving the per-file path's evaluation batches exactly."""

import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from reid_lightning.data import decode_cache
from reid_lightning.data.datamodule import ReIDDataModule
from reid_lightning.data.dataset import read_image
from reid_lightning.data.decode_cache import decoded_set
from reid_lightning.data.transforms import TransformConfig, build_resize
from tests.conftest import data_config

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
    workers = [threading.Thread(target=lambda: folders.append(
        decoded_set(images, maps, CFG, tmp_path / "cache", num_part_labels=7).folder)) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(builds) == 1 and len(folders) == 3 and len(set(folders)) == 1


def test_cached_evaluation_batches_equal_the_per_file_path(tmp_path):
    def data(cache: bool) -> ReIDDataModule:
        cfg = data_config(root=str(tmp_path / "synthetic"), options=TINY, val_split=None, height=32, width=16,
                          num_workers=0,
                         eval_batch_size=64, cache=cache, cache_dir=str(tmp_path / "cache"),
                         part_groups={"background": [0], "upper": [1, 2, 3, 4], "lower": [5, 6]})
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
