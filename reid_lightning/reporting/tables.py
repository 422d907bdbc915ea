"""Multirun folder -> thesis-style tables (Markdown), a CSV and plots of mAP against MACs and measured latency.

`python -m reid_lightning.reporting logs/train/multiruns/<time>` reads every job folder's
`result.json` (written by train.py) and `.hydra/overrides.yaml`, lays the finished runs out like
thesis Tables 3.2 / 4.3 / 4.4, and lists the runs that failed, were interrupted, have an unreadable
result.json (named) or are missing (started but never finished, or swept but never started). A run
that tested on several datasets (data.targets) gives one row per target, and a source x target table
lays the datasets trained on (data.sources) against those tested on, side by side. The notebook in
notebooks/ uses the same functions.
Runs that measured latency (callbacks.complexity.latency=true) add its columns (ms/image at batch 1 and
images/s at batch 32 under ONNX Runtime, GPU images/s) to the tables and a `map_vs_latency.png` plot.
A sweep over `seed=` is folded: one row per configuration (and target), mean ± std and n (seeds.py), and
`--compare A B` prints the paired difference of two rows with its 95% interval.
"""

import argparse
import itertools
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml
from hydra.core.override_parser.overrides_parser import OverridesParser

from reid_lightning.metrics.names import RESULT_METRICS, SHORT_LABELS, result_key
from reid_lightning.reporting.run_records import FAILED, FINISHED, INTERRUPTED, UNREADABLE, read_record
from reid_lightning.reporting.seeds import (
    SEED_KEY,
    configuration_keys,
    fold_seeds,
    folded_markdown,
    paired_difference,
    parse_selector,
)

METRICS = RESULT_METRICS
LATENCY = (
    "ms_per_image_b1_1t",
    "ms_per_image_b1_all",
    "images_per_s_b32_1t",
    "images_per_s_b32_all",
    "gpu_images_per_s_b32_fp16",
    "gpu_images_per_s_b32_bf16",
)  # analysis/latency.py's figures
COUNTS = ("params_total", "macs", "macs_thesis")
COST = (*COUNTS, *LATENCY)
HEADERS = {
    **SHORT_LABELS,
    "params_total": "Parameters",
    "macs_thesis": "Flops (thesis MACs)",
    "macs": "MACs",
    "ms_per_image_b1_1t": "ms/img (b1, 1 thr)",
    "ms_per_image_b1_all": "ms/img (b1, all thr)",
    "images_per_s_b32_1t": "img/s (b32, 1 thr)",
    "images_per_s_b32_all": "img/s (b32, all thr)",
    "gpu_images_per_s_b32_fp16": "GPU img/s fp16",
    "gpu_images_per_s_b32_bf16": "GPU img/s bf16",
}
LAYOUTS = {
    "3.2": ("rank1", "rank5", "rank10", "mAP"),
    "4.4": ("rank1", "rank5", "rank10", "mAP"),
    "4.3": ("params_total", "macs_thesis", *LATENCY),
    "full": ("params_total", "macs", *LATENCY, *METRICS),
}


@dataclass
class SweepResults:
    runs: pd.DataFrame  # one row per (job folder, test target): run, status, overrides, source, target, ...
    varying: list[str]  # override keys that differ between jobs (the table's row labels)
    missing: list[str] = field(default_factory=list)  # swept override sets with no job folder at all

    @property
    def finished(self) -> pd.DataFrame:
        return self.runs[self.runs.status == FINISHED]

    @property
    def failed(self) -> pd.DataFrame:
        return self.runs[self.runs.status == FAILED]

    @property
    def has_targets(self) -> bool:
        """Whether any run tested on named targets (data.targets, or several sources)."""
        return bool(self.runs["target"].notna().any())


def job_overrides(job_dir: Path) -> dict:
    path = job_dir / ".hydra" / "overrides.yaml"
    overrides = yaml.safe_load(path.read_text()) if path.is_file() else []
    return dict(item.split("=", 1) for item in overrides or [] if "=" in item and not item.startswith("hydra"))


def swept_override_sets(sweep_dir: Path) -> list[dict]:
    """Every job the sweep asked for, from its multirun.yaml (empty when it cannot be read).

    The basic sweeper sweeps its config's `hydra.sweeper.params` (a named sweep such as sweeps/*.yaml)
    together with the command line, which wins on a shared key. Other sweepers (Optuna) draw their jobs,
    so only the command line counts there.
    """
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return []
    hydra_cfg = yaml.safe_load(path.read_text()).get("hydra", {})
    task = [o for o in ((hydra_cfg.get("overrides") or {}).get("task") or []) if not o.startswith("hydra")]
    sweeper = hydra_cfg.get("sweeper") or {}
    if str(sweeper.get("_target_", "")).endswith("BasicSweeper"):
        given = {o.split("=", 1)[0] for o in task}
        task = [f"{k}={v}" for k, v in (sweeper.get("params") or {}).items() if k not in given] + task
    parsed = OverridesParser.create().parse_overrides(task)
    keys = [o.get_key_element() for o in parsed]
    values = [
        [str(v) for v in o.sweep_string_iterator()] if o.is_sweep_override() else [o.get_value_element_as_str()]
        for o in parsed
    ]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def job_order(job_dir: Path) -> tuple[int, str]:
    """Hydra's job number first (`10_...` after `9_...`), then the name (Optuna trials, other folders)."""
    number, _, _ = job_dir.name.partition("_")
    return (int(number), job_dir.name) if number.isdigit() else (1 << 30, job_dir.name)


def collect(sweep_dir: str | Path) -> SweepResults:
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise FileNotFoundError(
            f"{sweep_dir} is not a folder; pass a multirun folder such as logs/train/multiruns/<time>"
        )
    rows = []
    for job_dir in sorted((p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()), key=job_order):
        record = read_record(job_dir) or {"status": "missing", "metrics": {}, "complexity": {}}
        complexity = record.get("complexity") or {}
        metrics = record.get("metrics") or {}
        source = " + ".join(record["sources"]) if record.get("sources") else None
        for target in named_targets(record):
            rows.append(
                {
                    "run": job_dir.name,
                    "status": record["status"],
                    **job_overrides(job_dir),
                    "source": source,
                    "target": target,
                    **{k: complexity.get(k) for k in COST},
                    **{k: metrics.get(result_key(k, target)) for k in METRICS},
                    "error": record.get("error"),
                }
            )
    if not rows:
        raise FileNotFoundError(
            f"{sweep_dir} holds no Hydra job folders (sub-folders with .hydra/); is it a multirun folder?"
        )
    runs = pd.DataFrame(rows)
    override_keys = [
        c for c in runs.columns if c not in ("run", "status", "error", "source", "target", *COST, *METRICS)
    ]
    varying = [k for k in override_keys if runs[k].astype(str).nunique() > 1] or override_keys[:1]
    seen = [{k: str(r[k]) for k in override_keys if pd.notna(r[k])} for _, r in runs.iterrows()]
    missing = [
        ",".join(f"{k}={v}" for k, v in job.items())
        for job in swept_override_sets(sweep_dir)
        if not any(all(s.get(k) == v for k, v in job.items()) for s in seen)
    ]
    return SweepResults(runs=runs, varying=varying, missing=missing)


def named_targets(record: dict) -> list[str | None]:
    """The record's named test targets (results keyed `<target>/<metric>`); [None]: one unnamed test set.
    A listed target without such results (records that listed the tested dataset of a plain run) is none."""
    metrics = record.get("metrics") or {}
    named = [t for t in record.get("targets") or [] if any(result_key(m, t) in metrics for m in METRICS)]
    return named or [None]


def format_value(key: str, value) -> str:
    if value is None or pd.isna(value):
        return "-"
    if key in COUNTS:
        return f"{int(value):,}"
    if key.startswith("ms_"):
        return f"{float(value):.2f}"
    if key in LATENCY:
        return f"{float(value):,.0f}"
    return f"{float(value):.3f}"


def row_label(results: SweepResults, row) -> str:
    return " + ".join(str(row[k]) for k in results.varying) if results.varying else row["run"]


def markdown_table(results: SweepResults, layout: str = "full") -> str:
    """One row per finished run, or per (run, target) when runs tested on several datasets; with seeds swept,
    one row per configuration (and target): mean ± std, n."""
    columns = layout_columns(results, layout)
    if SEED_KEY in results.varying:
        keys = configuration_keys(results.varying) + (["target"] if results.has_targets else [])
        folded = fold_seeds(results.finished, keys, columns)
        return folded_markdown(
            folded, keys, columns, HEADERS, spread=tuple(c for c in columns if c in METRICS), format_value=format_value
        )
    label = " / ".join(results.varying) or "run"
    target_column = ["target"] if results.has_targets else []
    lines = [
        f"| {label} | " + " | ".join(target_column + [HEADERS[c] for c in columns]) + " |",
        "|---|" + "---|" * len(target_column) + "---:|" * len(columns),
    ]
    for _, row in results.finished.iterrows():
        target = [str(row["target"]) if pd.notna(row["target"]) else "-"] if target_column else []
        lines.append(
            f"| {row_label(results, row)} | " + " | ".join(target + [format_value(c, row[c]) for c in columns]) + " |"
        )
    return "\n".join(lines)


def layout_columns(results: SweepResults, layout: str) -> tuple[str, ...]:
    """The layout's columns; latency columns only when some run measured them (older sweeps have none)."""
    measured = results.runs
    return tuple(c for c in LAYOUTS[layout] if c not in LATENCY or (c in measured and measured[c].notna().any()))


def cross_domain_table(results: SweepResults, metrics: tuple[str, ...] = ("rank1", "mAP")) -> str:
    """Source x target: one row per (run label, datasets trained on), one column per dataset tested on,
    each cell `R1 / mAP`; the diagonal is in-domain, the rest cross-domain. Empty without targets."""
    finished = results.finished[results.finished["target"].notna()]
    if finished.empty:
        return ""
    targets = list(dict.fromkeys(finished["target"]))
    cells: dict[tuple[str, str], dict[str, str]] = {}
    for _, row in finished.iterrows():
        source = str(row["source"]) if pd.notna(row["source"]) else "-"
        key = (row_label(results, row) if results.varying else "", source)
        cells.setdefault(key, {})[row["target"]] = " / ".join(format_value(m, row[m]) for m in metrics)
    label = " / ".join(results.varying)
    head = ([label] if label else []) + ["source \\ target"] + targets
    lines = [
        f"{' / '.join(SHORT_LABELS[m] for m in metrics)} by dataset trained on (source) and tested on (target):",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---|" * bool(label) + "---:|" * len(targets),
    ]
    for (name, source), by_target in cells.items():
        lines.append(
            "| " + " | ".join(([name] if label else []) + [source] + [by_target.get(t, "-") for t in targets]) + " |"
        )
    return "\n".join(lines)


def comparison_report(results: SweepResults, first: str, second: str, layout: str = "full") -> str:
    """Paired differences (by seed) of the two selected rows, one line per metric of the layout."""
    a, b = parse_selector(first), parse_selector(second)
    metrics = [c for c in LAYOUTS[layout] if c in METRICS]
    return "\n".join(paired_difference(results.finished, a, b, m).describe(first, second) for m in metrics)


def problems_report(results: SweepResults) -> str:
    lines = [f"- failed: {row.run}: {row.error}" for row in results.failed.itertuples()]
    stopped = results.runs[results.runs.status.isin([INTERRUPTED, UNREADABLE])]
    lines += [f"- {row.status} (rerun to resume): {row.run}: {row.error}" for row in stopped.itertuples()]
    unfinished = results.runs[results.runs.status == "missing"]
    lines += [f"- missing (started, no result): {row.run}" for row in unfinished.itertuples()]
    lines += [f"- missing (never started): {job}" for job in results.missing]
    return "\n".join(lines)


def spread_labels(values: list[float], min_gap: float) -> list[float]:
    """Label positions near `values` (axis units), at least `min_gap` apart, order kept: labels never overlap."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    placed = [0.0] * len(values)
    previous = None
    for i in order:
        placed[i] = values[i] if previous is None else max(values[i], previous + min_gap)
        previous = placed[i]
    shift = (max(placed) - max(values)) / 2 if values else 0.0  # centre the stack on the points
    return [p - shift for p in placed]


def plot_map_vs_cost(results: SweepResults, path: Path, cost: str = "macs", pareto: bool = False) -> Path | None:
    """mAP against one cost column (log x axis): `macs` (thesis MACs when recorded) or a latency key such as
    `ms_per_image_b1_1t`; labels spread so they do not overlap; `pareto` marks the Pareto-optimal runs
    (no other run is both cheaper and more accurate). None when no finished run has both values. With seeds
    swept, one point per configuration as in the table: mean mAP with its sample std as an error bar."""
    finished = results.finished
    if cost == "macs" and finished["macs_thesis"].notna().any():
        cost = "macs_thesis"
    finished = finished[finished[cost].notna() & finished["mAP"].notna()] if cost in finished else finished[:0]
    if finished.empty:
        return None
    if SEED_KEY in results.varying:
        keys = configuration_keys(results.varying) + (["target"] if results.has_targets else [])
        folded = fold_seeds(finished, keys, [cost, "mAP"])
        labels = [" + ".join(str(row[k]) for k in keys if str(row[k]) != "nan") for _, row in folded.iterrows()]
        xs, ys, errors = list(folded[f"{cost}_mean"]), list(folded["mAP_mean"]), list(folded["mAP_std"].fillna(0.0))
    else:
        labels = [
            row_label(results, row) + (f" @ {row['target']}" if pd.notna(row["target"]) else "")
            for _, row in finished.iterrows()
        ]
        xs, ys, errors = list(finished[cost]), list(finished["mAP"]), None
    scale = 1e6 if cost in COUNTS else 1.0
    return plot_points(
        [float(x) / scale for x in xs],
        [float(y) for y in ys],
        labels,
        path,
        xlabel=HEADERS[cost] + (" (millions, log)" if scale > 1 else " (log)"),
        title=f"mAP against {HEADERS[cost]}",
        pareto=pareto,
        yerr=errors,
    )


def plot_points(
    xs: list[float],
    ys: list[float],
    names: list[str],
    path: Path,
    xlabel: str,
    title: str,
    pareto: bool = False,
    yerr: list[float] | None = None,
) -> Path:
    """Scatter of mAP (y) against a cost (x, log scale), each point labelled without overlaps (labels
    stacked apart, joined to their points, inside the axes); `pareto` joins and rings the Pareto-optimal
    points; `yerr` draws ± error bars (the spread over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.scatter(xs, ys, color="tab:blue", zorder=2)
    if yerr is not None:
        ax.errorbar(xs, ys, yerr=yerr, fmt="none", ecolor="tab:blue", alpha=0.6, capsize=3, zorder=1)
    if pareto:
        front = sorted((xs[i], ys[i]) for i in pareto_front(xs, ys))
        ax.plot(
            *zip(*front, strict=True),
            color="tab:red",
            marker="o",
            markerfacecolor="none",
            markersize=12,
            linestyle="--",
            label="Pareto-optimal",
            zorder=3,
        )
        ax.legend(loc="best", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlim(min(xs) / 1.3, max(xs) * 2.5)  # room on the right for the last point's label
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))  # 2, not 2x10^0
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    span = (max(ys) - min(ys)) or max(abs(max(ys)), 0.1)
    ax.set_ylim(min(ys) - 0.15 * span, max(ys) + 0.15 * span + 0.06 * span * len(ys))
    low, high = ax.get_ylim()
    label_ys = spread_labels(ys, 0.06 * (high - low))
    ax.set_ylim(min(low, min(label_ys) - 0.04 * span), max(high, max(label_ys) + 0.04 * span))  # labels inside
    for x, y, label_y, name in zip(xs, ys, label_ys, names, strict=True):
        ax.annotate(
            name,
            (x, y),
            xytext=(x * 1.08, label_y),
            fontsize=8,
            va="center",  # right of the point
            arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5},
        )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("mAP")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def pareto_front(costs: list[float], scores: list[float]) -> list[int]:
    """Indices of the Pareto-optimal points: no other point has cost <= and score >= with one strictly better."""
    return [
        i
        for i, (c, s) in enumerate(zip(costs, scores, strict=True))
        if not any(
            c2 <= c and s2 >= s and (c2 < c or s2 > s)
            for j, (c2, s2) in enumerate(zip(costs, scores, strict=True))
            if j != i
        )
    ]


def plot_map_vs_macs(results: SweepResults, path: Path) -> Path | None:
    """mAP against multiply-adds (the thesis's convention when recorded)."""
    return plot_map_vs_cost(results, path, "macs")


def write_all(results: SweepResults, out_dir: Path, layout: str = "full") -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "results.md", "csv": out_dir / "results.csv", "plot": out_dir / "map_vs_macs.png"}
    report, cross = problems_report(results), cross_domain_table(results)
    paths["markdown"].write_text(
        markdown_table(results, layout) + ("\n\n" + cross if cross else "") + ("\n\n" + report if report else "") + "\n"
    )
    results.runs.to_csv(paths["csv"], index=False)
    plot_map_vs_macs(results, paths["plot"])
    latency_plot = (
        plot_map_vs_cost(results, out_dir / "map_vs_latency.png", "ms_per_image_b1_1t")
        if "ms_per_image_b1_1t" in layout_columns(results, "full")
        else None
    )
    if latency_plot is not None:
        paths["latency plot"] = latency_plot
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path, help="multirun folder (holds <num>_<overrides>/ job folders)")
    parser.add_argument(
        "--layout",
        choices=sorted(LAYOUTS),
        default="full",
        help="columns: 3.2 / 4.4 = R1 R5 R10 mAP, 4.3 = parameters and flops, full = all",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="where to write results.md/.csv/.png (default: sweep_dir)"
    )
    parser.add_argument(
        "--compare",
        nargs=2,
        metavar=("A", "B"),
        default=None,
        help="paired difference A - B by seed with its 95%% interval; rows as key=value[,key=value]",
    )
    args = parser.parse_args(argv)
    results = collect(args.sweep_dir)
    paths = write_all(results, args.out or args.sweep_dir, args.layout)
    print(markdown_table(results, args.layout))
    cross = cross_domain_table(results)
    if cross:
        print("\n" + cross)
    if args.compare:
        print("\n" + comparison_report(results, *args.compare, layout=args.layout))
    report = problems_report(results)
    if report:
        print("\n" + report)
    print("\n" + "\n".join(f"{kind}: {path}" for kind, path in paths.items()))


if __name__ == "__main__":
    main()
