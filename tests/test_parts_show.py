"""The overview picture and the `reid-parts` command line (no pose model needed)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from reid_lightning.parts.cli import main
from reid_lightning.parts.show import PART_COLOURS, overlay, show_part_maps

NAMES = ["0001_c1s1_000101_01.jpg", "0002_c1s1_000201_01.jpg", "0003_c2s1_000301_01.jpg"]


def make_root(tmp_path: Path) -> Path:
    root = tmp_path / "market"
    (root / "query").mkdir(parents=True)
    for name in NAMES:
        Image.fromarray(np.full((128, 64, 3), 100, np.uint8)).save(root / "query" / name, quality=100)
    return root


def test_overlay_tints_only_labelled_pixels():
    image = np.full((4, 2, 3), 100, np.uint8)
    labels = np.zeros((4, 2), np.uint8)
    labels[1, 1] = 2
    shown = overlay(image, labels, alpha=0.5)
    assert (shown[0, 0] == 100).all()
    assert shown[1, 1].tolist() == [int(0.5 * 100 + 0.5 * c) for c in PART_COLOURS[2]]
    with pytest.raises(ValueError, match="does not match its image"):
        overlay(image, np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="holds label 9"):
        overlay(image, np.full((4, 2), 9, np.uint8))


def test_show_writes_a_grid_with_a_legend(tmp_path):
    root = make_root(tmp_path)
    maps = root / "part_maps" / "query"
    maps.mkdir(parents=True)
    for name in NAMES[:2]:  # the third image has no map
        Image.fromarray(np.full((128, 64), 1, np.uint8)).save(maps / (Path(name).stem + ".png"))
    out = show_part_maps(root, tmp_path / "grid.png", zoom=2)
    grid = np.asarray(Image.open(out).convert("RGB"))
    cell_w, cell_h = 64 * 2 + 4, 128 * 2 + 14 + 4  # tile + caption + gap
    assert grid.shape == (cell_h + 20, max(3 * cell_w, 640), 3)
    head = np.round(0.45 * 100 + 0.55 * PART_COLOURS[1]).astype(int)
    assert np.abs(grid[50, 50].astype(int) - head).max() <= 3  # first tile: tinted as head
    grey = int(0.35 * 100 + 0.65 * 128)
    assert np.abs(grid[50, 2 * cell_w + 50].astype(int) - grey).max() <= 3  # no map: greyed


def test_cli_import_and_show(tmp_path, capsys):
    root, src = make_root(tmp_path), tmp_path / "src"
    src.mkdir()
    for name in NAMES:
        Image.fromarray(np.full((128, 64), 3, np.uint8)).save(src / (Path(name).stem + ".png"))
    main(["import-maps", "--src", str(src), "--root", str(root), "--scheme", "ppp7"])
    assert "3 written" in capsys.readouterr().out
    assert len(list((root / "part_maps" / "query").glob("*.png"))) == 3
    main(["show", "--root", str(root), "--out", str(tmp_path / "grid.png")])
    assert (tmp_path / "grid.png").is_file()
    with pytest.raises(SystemExit):
        main(["import-keypoints", "--format", "coco", "--src", "x", "--root", str(root)])


def test_python_dash_m_runs_the_cli():
    result = subprocess.run(
        [sys.executable, "-m", "reid_lightning.parts", "--help"], capture_output=True, text=True, check=True
    )
    for command in ("generate", "import-maps", "import-keypoints", "show"):
        assert command in result.stdout
