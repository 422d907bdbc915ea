"""A picture to check part maps at a glance: a PNG grid of images with their maps overlaid.

Each tile is one image with its parts tinted in PART_COLOURS (background untouched) and its file
stem below; an image without a map is shown greyed out with "no map". A legend row names the
colours. With more images than `max_images`, an evenly spaced selection in file-name order is shown.

    reid-parts show --root data/market1501 --split query --out query_parts.png
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from reid_lightning.data.part_maps import PART_COLOURS, PART_NAMES_7, part_map_path
from reid_lightning.parts.layout import dataset_images, default_out, read_rgb

CAPTION = 14  # pixels of text below a tile


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Tint the labelled pixels of an RGB image (H, W, 3) with their part colour -> (H, W, 3) uint8."""
    if labels.shape != image.shape[:2]:
        raise ValueError(f"part map of shape {labels.shape} does not match its image {image.shape[:2]}")
    if labels.size and int(labels.max()) >= len(PART_COLOURS):
        raise ValueError(f"part map holds label {int(labels.max())}; show knows labels 0..{len(PART_COLOURS) - 1}")
    tinted = (1 - alpha) * image + alpha * PART_COLOURS[labels]
    return np.where(labels[..., None] > 0, tinted, image).astype(np.uint8)


def _tile(image_path: Path, part_path: Path, zoom: int) -> Image.Image:
    image = read_rgb(image_path)
    if part_path.is_file():
        with Image.open(part_path) as img:
            shown = overlay(image, np.asarray(img))
        caption = image_path.stem
    else:
        shown = (0.35 * image + 0.65 * 128).astype(np.uint8)
        caption = "no map"
    tile = Image.fromarray(shown).resize((image.shape[1] * zoom, image.shape[0] * zoom), Image.NEAREST)
    framed = Image.new("RGB", (tile.width, tile.height + CAPTION), "white")
    framed.paste(tile, (0, 0))
    ImageDraw.Draw(framed).text((2, tile.height + 1), caption[: tile.width // 6], fill="black")
    return framed


def _legend(width: int) -> Image.Image:
    legend = Image.new("RGB", (width, 20), "white")
    draw = ImageDraw.Draw(legend)
    x = 4
    for label, name in enumerate(PART_NAMES_7[1:], start=1):
        draw.rectangle((x, 4, x + 12, 16), fill=tuple(int(c) for c in PART_COLOURS[label]))
        draw.text((x + 16, 5), name, fill="black")
        x += 22 + 6 * len(name)
    return legend


def show_part_maps(
    root: str | Path,
    out: str | Path,
    part_root: str | Path | None = None,
    splits: list[str] | None = None,
    max_images: int = 48,
    columns: int = 12,
    zoom: int = 2,
) -> Path:
    """Write the grid of `root`'s images (maps from `part_root`, default `<root>/part_maps`) to `out`."""
    part_root = Path(part_root) if part_root is not None else default_out(root)
    images = dataset_images(root, splits)
    if len(images) > max_images:
        images = [images[i] for i in np.linspace(0, len(images) - 1, max_images).round().astype(int)]
    tiles = [_tile(path, part_map_path(part_root, split, path), zoom) for split, path in images]
    cell_w, cell_h = max(t.width for t in tiles) + 4, max(t.height for t in tiles) + 4
    columns = min(columns, len(tiles))
    rows = -(-len(tiles) // columns)
    grid_width = max(columns * cell_w, 640)
    grid = Image.new("RGB", (grid_width, rows * cell_h + 20), "white")
    for i, tile in enumerate(tiles):
        grid.paste(tile, ((i % columns) * cell_w + 2, (i // columns) * cell_h + 2))
    grid.paste(_legend(grid_width), (0, rows * cell_h))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    grid.save(out)
    return out
