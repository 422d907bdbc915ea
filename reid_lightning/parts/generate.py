"""The part-map generator: every image of a Market-format dataset -> pose -> 7-part label map.

For each image the pose model (pose.py) gives a skeleton and a person mask, and rasterize.py draws
the body segments inside the mask. When no person is found the map falls back to a height split of
the box; when a person is found but the skeleton is unusable (no shoulders, hips or head, or not
upright) to a height split of the person mask. Fallbacks are counted, since a map from a fallback
carries no arms and only rough legs.

Work is spread over worker processes (spawn-safe; each builds its own pose model once), with a
progress bar. Existing maps are skipped unless `overwrite`, so an interrupted run resumes where it
stopped. A summary (images, fallbacks, failures, time) is printed and written to
`<out>/summary.json`.

    from reid_lightning.parts import generate_part_maps
    summary = generate_part_maps("data/market1501", workers=2)
"""

import json
import multiprocessing
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from reid_lightning.data.part_maps import part_map_path
from reid_lightning.parts.layout import dataset_images, default_out, read_rgb, write_map
from reid_lightning.parts.pose import PoseConfig, PoseModel
from reid_lightning.parts.rasterize import rasterize, split_by_height

POSE, FALLBACK_MASK, FALLBACK_BOX = "pose", "fallback_mask", "fallback_box"


@dataclass
class Summary:
    """What a run did. Counts cover this run's images; maps skipped as existing are counted apart."""

    out: str
    images: int = 0
    skipped_existing: int = 0
    written: int = 0
    pose: int = 0
    fallback_mask: int = 0
    fallback_box: int = 0
    failures: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    seconds_per_image: float = 0.0
    workers: int = 1
    settings: dict = field(default_factory=dict)

    @property
    def fallback_rate(self) -> float:
        return (self.fallback_mask + self.fallback_box) / max(self.written, 1)

    def to_dict(self) -> dict:
        return {**asdict(self), "fallback_rate": round(self.fallback_rate, 4)}

    def text(self) -> str:
        lines = [
            f"part maps in {self.out}: {self.images} images, {self.skipped_existing} already there, "
            f"{self.written} written in {self.seconds:.1f} s "
            f"({self.seconds_per_image * 1000:.0f} ms per image with {self.workers} worker(s))",
            f"  pose {self.pose}, fallback on the person mask {self.fallback_mask}, "
            f"fallback on the box {self.fallback_box} (fallback rate {self.fallback_rate:.1%}), "
            f"failures {len(self.failures)}",
        ]
        lines += [f"  failed: {f['image']}: {f['error']}" for f in self.failures[:10]]
        return "\n".join(lines)


def make_part_map(image: np.ndarray, model: PoseModel) -> tuple[np.ndarray, str]:
    """RGB crop (H, W, 3) -> (part map (H, W) uint8, how it was made: pose | fallback_mask | fallback_box)."""
    size = image.shape[:2]
    result = model(image)
    if result.joints is not None:
        labels = rasterize(result.joints, size, result.mask)
        if labels is not None:
            return labels, POSE
    if result.mask is not None and result.mask.any():
        return split_by_height(size, result.mask), FALLBACK_MASK
    return split_by_height(size), FALLBACK_BOX


_model: PoseModel | None = None  # one per worker process


def _start_worker(config: PoseConfig) -> None:
    global _model
    try:
        import cv2

        cv2.setNumThreads(1)  # one core per worker; the workers are the parallelism
    except ImportError:
        pass
    _model = PoseModel(config)


def _work(task: tuple[str, str]) -> tuple[str, str | None, str | None]:
    """(image, map) paths -> (image, method, error); errors are returned, not raised, and reported."""
    image_path, out_path = task
    try:
        labels, method = make_part_map(read_rgb(Path(image_path)), _model)
        write_map(Path(out_path), labels)
        return image_path, method, None
    except Exception as err:  # one bad image must not stop a run over 30,000
        return image_path, None, f"{type(err).__name__}: {err}"


def generate_part_maps(
    root: str | Path,
    out: str | Path | None = None,
    splits: list[str] | None = None,
    workers: int = 1,
    overwrite: bool = False,
    progress: bool = True,
    config: PoseConfig | None = None,
) -> Summary:
    """Write `<out>/<split>/<stem>.png` for every image under `root` (out defaults to `<root>/part_maps`)."""
    config = config or PoseConfig()
    out = Path(out) if out is not None else default_out(root)
    images = dataset_images(root, splits)
    tasks = [(str(path), str(part_map_path(out, split, path))) for split, path in images]
    todo = tasks if overwrite else [t for t in tasks if not Path(t[1]).is_file()]
    workers = max(1, min(workers, len(todo)))
    summary = Summary(
        str(out), images=len(tasks), skipped_existing=len(tasks) - len(todo), workers=workers, settings=asdict(config)
    )
    start = time.perf_counter()
    columns = (TextColumn("part maps"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress) as bar:
        job = bar.add_task("part maps", total=len(todo))
        for image, method, error in _run(todo, workers, config):
            if error is None:
                summary.written += 1
                setattr(summary, method, getattr(summary, method) + 1)
            else:
                summary.failures.append({"image": image, "error": error})
            bar.advance(job)
    summary.seconds = time.perf_counter() - start
    summary.seconds_per_image = summary.seconds / len(todo) if todo else 0.0
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
    return summary


def _run(todo: list[tuple[str, str]], workers: int, config: PoseConfig):
    """Results of `_work` over `todo`, in this process or in a pool of spawned workers."""
    if not todo:
        return
    if workers == 1:
        global _model
        _model = PoseModel(config)
        try:
            yield from map(_work, todo)
        finally:
            _model.close()
            _model = None
        return
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_start_worker, initargs=(config,)) as pool:
        yield from pool.imap_unordered(_work, todo, chunksize=4)
