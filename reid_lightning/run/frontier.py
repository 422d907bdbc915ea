"""`sweep=frontier`: every finished run of a sweep exported, measured and scored; the Pareto frontier written.

The sweep (sweeps/frontier.yaml) trains the thesis backbones, and students distilled from the sweep's own
teacher run (`distill=frontier`). When its jobs are done, `FrontierReport` (a Hydra callback, so it runs
once in the launching process at the end of the multirun) takes each finished job's best checkpoint and

1. exports it to ONNX fp32 and to int8 (ONNX Runtime static quantisation calibrated on
   `calibration_count` training crops of the sweep's data) into `<job>/export/`;
2. measures each file under ONNX Runtime (analysis/latency.py: ms/image at batch 1, images/s at batch 32,
   one thread and all threads, median of `repeats` calls after `warmup`);
3. embeds the query and gallery images with each file (FeatureExtractor) and scores them with the run's
   own retrieval metric, so the int8 accuracy change is measured, not assumed;

then writes `frontier.md`, `frontier.csv` (a row per variant: model and dtype, folded over seeds),
`frontier_runs.csv` (a row per exported file) and `frontier.png` (mAP against ms/image, Pareto-optimal
variants marked; reporting/frontier.py) into the sweep folder. `python -m reid_lightning.run.frontier
<sweep folder>` redoes the report of a finished sweep. Heads that need part maps are exported and timed
but not scored (their crops need maps the report does not make).
"""

import argparse
import logging
from pathlib import Path

import pandas as pd
import torch
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from reid_lightning.reporting.frontier import fold_variants, frontier_markdown, mark_pareto, plot_frontier
from reid_lightning.reporting.run_records import FINISHED, read_record
from reid_lightning.reporting.tables import job_order, job_overrides

log = logging.getLogger(__name__)
LATENCY_KEYS = ("ms_per_image_b1_1t", "ms_per_image_b1_all", "images_per_s_b32_1t", "images_per_s_b32_all")


def sweep_teacher(sweep_dir: str | Path, backbone: str, seed: int | None = None) -> str:
    """The best checkpoint of the sweep's finished, undistilled run of `backbone`: what `distill.teacher=
    sweep:<backbone>` (conf/distill/frontier.yaml) means; the sweep runs that job before any student. In a
    sweep over seeds, the teacher of the student's own seed: each student and its plain twin then differ by
    the distillation only, and the paired comparison of reporting/seeds.py compares like with like."""
    teachers = []
    for record_path in sorted(Path(sweep_dir).glob("*/result.json"), key=lambda p: job_order(p.parent)):
        record = read_record(record_path.parent) or {}
        choices = record.get("choices") or {}
        if (
            record.get("status") == FINISHED
            and choices.get("backbone") == backbone
            and choices.get("distill") in (None, "default")
        ):
            checkpoint = str(record.get("best_checkpoint") or record_path.parent / "checkpoints" / "last.ckpt")
            teachers.append((job_overrides(record_path.parent).get("seed"), checkpoint))
    if not teachers:
        raise ValueError(
            f"distill.teacher=sweep:{backbone} needs the finished backbone={backbone} run without "
            f"distillation in the sweep folder {sweep_dir}; the sweep runs it first (distill=default jobs "
            "come first): rerun the sweep to resume, or pass distill.teacher=<checkpoint>"
        )
    same_seed = [checkpoint for job_seed, checkpoint in teachers if seed is not None and job_seed == str(seed)]
    if seed is not None and not same_seed and any(job_seed is not None for job_seed, _ in teachers):
        log.warning(
            "No finished backbone=%s teacher of seed %s in %s: using %s", backbone, seed, sweep_dir, teachers[0][1]
        )
    return (same_seed or [teachers[0][1]])[0]


def score_file(path: Path, splits, metric_kwargs: dict, batch_size: int = 64) -> dict:
    """Rank-1 and mAP of an exported file on the query vs gallery of `splits` (its own preprocessing)."""
    from reid_lightning.deploy.extractor import FeatureExtractor
    from reid_lightning.metrics import RetrievalMetric

    samples = [*splits.query, *splits.gallery]
    extractor = FeatureExtractor(path, batch_size=batch_size, normalize=False, output="torch")
    metric = RetrievalMetric(**{k: v for k, v in metric_kwargs.items() if k != "visibility"}, visibility=False)
    embeddings = extractor([s.path for s in samples])
    metric.update(
        embeddings,
        torch.tensor([s.pid for s in samples]),
        torch.tensor([s.camid for s in samples]),
        torch.tensor([i < len(splits.query) for i in range(len(samples))]),
        torch.arange(len(samples)),
    )
    result = metric.compute()
    return {"rank1": float(result["rank1"]), "mAP": float(result["mAP"])}


def job_rows(job_dir: Path, splits, repeats: int, warmup: int, calibration_count: int) -> list[dict]:
    """The fp32 and int8 rows of one finished job (exports written to <job>/export/)."""
    from reid_lightning.analysis.latency import machine, measure_onnx_file
    from reid_lightning.deploy.export import export_model
    from reid_lightning.deploy.quantize import calibration_inputs
    from reid_lightning.deploy.trained_model import load_model

    record = read_record(job_dir) or {}
    checkpoint = record.get("best_checkpoint") or str(job_dir / "checkpoints" / "last.ckpt")
    model, preprocessing = load_model(checkpoint)
    choices = record.get("choices") or {}
    name = choices.get("backbone", job_dir.name) + (" (distilled)" if choices.get("distill") == "frontier" else "")
    calibration = (
        None
        if model.requires_part_maps
        else calibration_inputs([s.path for s in splits.train], preprocessing, calibration_count + 3)
    )
    dtypes = ("fp32",) if calibration is None else ("fp32", "int8")
    written = export_model(
        model,
        job_dir / "export" / "model",
        formats=("onnx",),
        dtypes=dtypes,
        calibration=calibration,
        calibration_source=f"{splits.name} training split",
    )
    complexity = record.get("complexity") or {}
    rows = []
    for item in written:
        row = {
            "model": name,
            "dtype": item.dtype,
            "run": job_dir.name,
            "seed": job_overrides(job_dir).get("seed"),
            "file": str(item.path),
            "params_total": complexity.get("params_total"),
            "macs": complexity.get("macs"),
            "min_cosine_to_fp32": item.min_cosine,
            **measure_onnx_file(item.path, repeats, warmup),
        }
        if not model.requires_part_maps:
            row.update(score_file(item.path, splits, model.metric_kwargs))
        rows.append(row)
    if len(rows) == 2 and "mAP" in rows[0]:
        rows[1]["mAP_change"] = rows[1]["mAP"] - rows[0]["mAP"]
    for row in rows:
        row["run_mAP"] = (record.get("metrics") or {}).get("mAP")  # the PyTorch test of train.py
    rows[0]["machine"] = machine()
    return rows


def write_frontier(sweep_dir: Path, data: dict, repeats: int, warmup: int, calibration_count: int) -> dict[str, Path]:
    """Export, measure and score every finished job of `sweep_dir`; write frontier.md/.csv/.png there.
    `data`: the sweep's data config (name, root, options): its train crops calibrate, its query/gallery score."""
    from reid_lightning.data.datasets import load_dataset

    splits = load_dataset(data["name"], data["root"], **dict(data.get("options") or {}))
    jobs = sorted((p for p in Path(sweep_dir).iterdir() if (p / ".hydra").is_dir()), key=job_order)
    rows, machine_info = [], None
    for job in jobs:
        record = read_record(job)
        if not record or record.get("status") != FINISHED:
            log.warning("Frontier: leaving out %s (no finished result)", job.name)
            continue
        log.info("Frontier: exporting, measuring and scoring %s", job.name)
        job_result = job_rows(job, splits, repeats, warmup, calibration_count)
        machine_info = machine_info or job_result[0].pop("machine")
        job_result[0].pop("machine", None)
        rows += job_result
    if not rows:
        raise ValueError(f"{sweep_dir} holds no finished runs to put on the frontier")
    runs = pd.DataFrame(rows)
    table = mark_pareto(fold_variants(runs))
    paths = {
        kind: sweep_dir / f"frontier{suffix}"
        for kind, suffix in (("markdown", ".md"), ("csv", ".csv"), ("runs", "_runs.csv"), ("plot", ".png"))
    }
    paths["markdown"].write_text(frontier_markdown(table, machine_info) + "\n")
    table.to_csv(paths["csv"], index=False)
    runs.to_csv(paths["runs"], index=False)
    plot_frontier(table, paths["plot"])
    log.info("Frontier written: %s", ", ".join(str(p) for p in paths.values()))
    return paths


class FrontierReport(Callback):
    """Hydra callback of sweep=frontier: `write_frontier` once the multirun's jobs are done. Its settings'
    one home is sweeps/frontier.yaml (`hydra.callbacks.frontier`)."""

    def __init__(self, repeats: int, warmup: int, calibration_count: int):
        self.repeats, self.warmup, self.calibration_count = repeats, warmup, calibration_count

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        data = OmegaConf.to_container(config.data, resolve=True)
        try:
            write_frontier(sweep_dir, data, self.repeats, self.warmup, self.calibration_count)
        except Exception as err:  # noqa: BLE001 - the jobs' results stay; the report can be redone
            log.error(
                "Frontier report of %s failed (%s: %s); the runs are kept: fix and redo it with "
                "python -m reid_lightning.run.frontier %s",
                sweep_dir,
                type(err).__name__,
                err,
                sweep_dir,
            )


def main(argv: list[str] | None = None) -> None:
    """Redo the frontier report of a finished sweep folder (its multirun.yaml names the data)."""
    from reid_lightning.run.resolvers import register

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per latency figure (median kept)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls before timing")
    parser.add_argument("--calibration-count", type=int, default=128, help="int8 calibration crops")
    args = parser.parse_args(argv)
    register()
    config = OmegaConf.load(args.sweep_dir / "multirun.yaml")
    data = OmegaConf.to_container(config.data, resolve=True)
    paths = write_frontier(args.sweep_dir, data, args.repeats, args.warmup, args.calibration_count)
    print((args.sweep_dir / "frontier.md").read_text())
    print("\n".join(f"{kind}: {path}" for kind, path in paths.items()))


if __name__ == "__main__":
    main()
