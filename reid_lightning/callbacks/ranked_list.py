"""Ranked lists as pictures: for a few test queries, the query then its top-k gallery images, each
framed green (same identity) or red (another identity), after the protocol's same-camera filter.

Collected from the test step's outputs on rank zero, drawn at the end of the test, written to
TensorBoard (`test/ranked_lists`) and as `ranked_lists.png` in the run folder.
"""

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image

GREEN, RED, WHITE = (0, 170, 0), (220, 0, 0), (255, 255, 255)


def framed(path: Path, size: tuple[int, int], colour: tuple[int, int, int], border: int = 3) -> np.ndarray:
    """Image at `size` (H, W) inside a `border`-pixel frame of `colour`: uint8 (H+2b, W+2b, 3)."""
    h, w = size
    with Image.open(path) as im:
        pixels = np.asarray(im.convert("RGB").resize((w, h), Image.BILINEAR))
    canvas = np.empty((h + 2 * border, w + 2 * border, 3), dtype=np.uint8)
    canvas[:] = colour
    canvas[border:border + h, border:border + w] = pixels
    return canvas


def ranked_list_grid(query_paths, gallery_rows, matches, size=(128, 64), gap: int = 8) -> np.ndarray:
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
    def __init__(self, num_queries: int = 6, top_k: int = 8):
        self.num_queries, self.top_k = num_queries, top_k
        self.outputs: list[dict] = []

    def on_test_epoch_start(self, trainer, pl_module) -> None:
        self.outputs = []

    def on_test_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0) -> None:
        if trainer.is_global_zero and outputs is not None:
            self.outputs.append({k: v.detach().cpu() for k, v in outputs.items()})

    def on_test_epoch_end(self, trainer, pl_module) -> None:
        if not trainer.is_global_zero or not self.outputs:
            return
        grid = self.render(trainer)
        if grid is None:
            return
        Image.fromarray(grid).save(Path(trainer.default_root_dir) / "ranked_lists.png")
        for logger in trainer.loggers:
            if isinstance(logger, pl.loggers.TensorBoardLogger):
                logger.experiment.add_image("test/ranked_lists", grid, trainer.global_step, dataformats="HWC")

    def render(self, trainer) -> np.ndarray | None:
        out = {k: torch.cat([o[k] for o in self.outputs]) for k in self.outputs[0]}
        dataset = trainer.test_dataloaders.dataset
        q = out["is_query"].bool()
        g = ~q
        if not q.any() or not g.any():
            return None
        qf, gf = out["embedding"][q][: self.num_queries].float(), out["embedding"][g].float()
        distances = torch.cdist(qf, gf)  # (Q', G)
        q_pid, q_cam = out["pid"][q][: self.num_queries], out["camid"][q][: self.num_queries]
        g_pid, g_cam, g_index = out["pid"][g], out["camid"][g], out["index"][g]
        query_paths, gallery_rows, matches = [], [], []
        for i, index in enumerate(out["index"][q][: self.num_queries].tolist()):
            keep = ~((g_pid == q_pid[i]) & (g_cam == q_cam[i]))  # protocol: same id in same camera is not shown
            order = torch.argsort(distances[i].masked_fill(~keep, float("inf")))[: self.top_k]
            order = order[keep[order]]
            query_paths.append(dataset.samples[index].path)
            gallery_rows.append([dataset.samples[j].path for j in g_index[order].tolist()])
            matches.append((g_pid[order] == q_pid[i]).tolist())
        size = tuple(trainer.lightning_module.hparams.image_size)
        return ranked_list_grid(query_paths, gallery_rows, matches, size=size)
