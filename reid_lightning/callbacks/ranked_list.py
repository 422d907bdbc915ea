"""Ranked lists as pictures: for a few test queries, the query then its top-k gallery images, each
framed green (same identity) or red (another identity), after the protocol's same-camera filter.

Ranked by the module's test metric (same distance, normalisation and re-ranking as the scores, every
rank's samples under DDP), drawn on rank zero at the end of the test, written to
TensorBoard (`test/ranked_lists`) and as `ranked_lists.png` in the run folder; with several test
targets, one picture each (`test/<target>/ranked_lists`, `ranked_lists_<target>.png`).
"""

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from PIL import Image

from reid_lightning.data.images import read_rgb
from reid_lightning.data.market_layout import MARKET_IMAGE_SIZE

GREEN, RED, WHITE = (0, 170, 0), (220, 0, 0), (255, 255, 255)


def framed(path: Path, size: tuple[int, int], colour: tuple[int, int, int], border: int = 3) -> np.ndarray:
    """Image at `size` (H, W) inside a `border`-pixel frame of `colour`: uint8 (H+2b, W+2b, 3)."""
    h, w = size
    pixels = np.asarray(Image.fromarray(read_rgb(path)).resize((w, h), Image.BILINEAR))  # as training sees it
    canvas = np.empty((h + 2 * border, w + 2 * border, 3), dtype=np.uint8)
    canvas[:] = colour
    canvas[border : border + h, border : border + w] = pixels
    return canvas


def ranked_list_grid(query_paths, gallery_rows, matches, size=MARKET_IMAGE_SIZE, gap: int = 8) -> np.ndarray:
    """One row per query: query (white frame), gap, then its ranked gallery (green match / red non-match).

    gallery_rows[i] is the list of gallery paths ranked for query i, matches[i] the booleans for them.
    Returns uint8 (rows*H', W', 3).
    """
    rows = []
    for query, gallery, hits in zip(query_paths, gallery_rows, matches, strict=True):
        tiles = [framed(query, size, WHITE), np.full((size[0] + 6, gap, 3), 255, np.uint8)]
        tiles += [framed(path, size, GREEN if hit else RED) for path, hit in zip(gallery, hits, strict=True)]
        rows.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)


class RankedListCallback(pl.Callback):
    """Draws from the module's `test_metric` before the module resets it (callbacks' epoch-end hooks run first),
    so the pictures rank exactly as the scores do, over every rank's samples under DDP."""

    def __init__(self, num_queries: int = 6, top_k: int = 8):
        self.num_queries, self.top_k = num_queries, top_k

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        loaders = trainer.test_dataloaders
        loaders = loaders if isinstance(loaders, list | tuple) else [loaders]
        for name, metric, loader in zip(pl_module.test_names, pl_module.test_metrics, loaders, strict=False):
            if not metric.update_called:
                continue
            with metric.sync_context():  # collective under DDP: every rank enters, rank zero draws
                lists = metric.ranked_gallery(self.num_queries, self.top_k) if trainer.is_global_zero else []
            if not lists:
                continue
            grid = self.render(trainer, loader.dataset.samples, lists)
            file_name = "ranked_lists.png" if name is None else f"ranked_lists_{name}.png"
            Image.fromarray(grid).save(Path(trainer.default_root_dir) / file_name)
            tag = "test/ranked_lists" if name is None else f"test/{name}/ranked_lists"
            for logger in trainer.loggers:
                if isinstance(logger, pl.loggers.TensorBoardLogger):
                    logger.experiment.add_image(tag, grid, trainer.global_step, dataformats="HWC")

    @staticmethod
    def render(trainer, samples, lists: list[tuple[int, list[int], list[bool]]]) -> np.ndarray:
        """lists: (query index, gallery indices, matches) per query, indices into `samples` (a test dataset's)."""
        size = tuple(trainer.lightning_module.hparams.image_size)
        return ranked_list_grid(
            [samples[q].path for q, _, _ in lists],
            [[samples[j].path for j in gallery] for _, gallery, _ in lists],
            [matches for _, _, matches in lists],
            size=size,
        )
