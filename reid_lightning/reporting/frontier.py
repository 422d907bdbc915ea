"""The accuracy-per-cost frontier of a sweep: a Pareto table and plot of mAP against measured latency.

Input: one row per exported file (a trained run in fp32 or int8) with its measured `ms_per_image_b1_1t`
and its `mAP` (run/frontier.py measures them). `fold_variants` folds the runs of a variant (model, dtype)
over seeds: R1, mAP and the int8 change as mean ± std with n (reporting/seeds.py), cost as the median over
the runs (seeds change the weights, not the network). A variant is Pareto-optimal when no other is both at
least as fast and at least as accurate on average, and strictly better in one of the two: the models worth
choosing at some latency budget. Everything else on the table is dominated.
"""

from pathlib import Path

import pandas as pd

from reid_lightning.reporting.seeds import fold_seeds
from reid_lightning.reporting.tables import pareto_front, plot_points

COST, SCORE = "ms_per_image_b1_1t", "mAP"
VARIANT = ["model", "dtype"]
AVERAGED = ("rank1", "mAP", "mAP_change", "run_mAP")  # mean ± std over a variant's seeds
MEDIAN = ("ms_per_image_b1_1t", "ms_per_image_b1_all", "images_per_s_b32_1t", "images_per_s_b32_all")
COLUMNS = {
    "model": "model",
    "dtype": "dtype",
    "n": "seeds",
    "params_total": "Parameters",
    "macs": "MACs",
    "ms_per_image_b1_1t": "ms/img (b1, 1 thr)",
    "ms_per_image_b1_all": "ms/img (b1, all thr)",
    "images_per_s_b32_all": "img/s (b32, all thr)",
    "rank1": "R1",
    "mAP": "mAP",
    "mAP_change": "mAP change vs fp32",
    "pareto": "Pareto",
}


def fold_variants(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per variant (model, dtype), in order of first appearance: `n` runs, the mean of each AVERAGED
    column under its own name with its sample std as `<name>_std` (NaN for one run), the median of each
    MEDIAN cost, the lowest cosine to fp32, the parameters and MACs."""
    averaged = [m for m in AVERAGED if m in runs.columns]
    folded = fold_seeds(runs, VARIANT, averaged).rename(columns={f"{m}_mean": m for m in averaged})
    groups = runs.groupby(VARIANT, sort=False)
    others = {k: "median" for k in MEDIAN if k in runs.columns}
    others |= {k: "first" for k in ("params_total", "macs") if k in runs.columns}
    if "min_cosine_to_fp32" in runs.columns:
        others["min_cosine_to_fp32"] = "min"
    if others:
        folded = folded.merge(groups.agg(others).reset_index(), on=VARIANT, how="left", sort=False)
    return folded


def mark_pareto(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with a boolean `pareto` column (rows without cost or mAP are never optimal)."""
    rows = rows.copy()
    rows["pareto"] = False
    usable = rows[rows[COST].notna() & rows[SCORE].notna()]
    best = pareto_front([float(c) for c in usable[COST]], [float(s) for s in usable[SCORE]])
    rows.loc[usable.index[best], "pareto"] = True
    return rows


def _cell(key: str, value, std=None) -> str:
    if std is not None and not pd.isna(std) and not pd.isna(value):
        return f"{_cell(key, value)} ± {float(std):.3f}"
    if isinstance(value, bool):
        return "**yes**" if value else ""
    if value is None or pd.isna(value):
        return "-"
    if key in ("params_total", "macs", "n"):
        return f"{int(value):,}"
    if key.startswith("ms_"):
        return f"{float(value):.2f}"
    if key.startswith("images_"):
        return f"{float(value):,.0f}"
    if key == "mAP_change":
        return f"{float(value):+.3f}"
    return f"{float(value):.3f}" if isinstance(value, float) else str(value)


def frontier_markdown(rows: pd.DataFrame, machine: dict | None = None) -> str:
    """The Pareto table, fastest first; the machine the latency was measured on below it."""
    rows = rows.sort_values(COST, na_position="last")
    keys = [k for k in COLUMNS if k in rows.columns]
    lines = [
        "| " + " | ".join(COLUMNS[k] for k in keys) + " |",
        "|" + "|".join("---" if k in ("model", "dtype") else "---:" for k in keys) + "|",
    ]
    lines += [
        "| " + " | ".join(_cell(k, row[k], row.get(f"{k}_std")) for k in keys) + " |" for _, row in rows.iterrows()
    ]
    lines += ["", "R1, mAP and the change: mean ± std over the seeds (sample std); latency: median over the runs."]
    if machine:
        lines += [
            "",
            f"Latency: ONNX Runtime on the CPU, median of repeated calls after warm-up; machine: "
            f"{machine.get('cpu')} ({machine.get('cores')} cores), onnxruntime {machine.get('onnxruntime')}, "
            f"torch {machine.get('torch')}. mAP: the exported file on query vs gallery.",
        ]
    return "\n".join(lines)


def plot_frontier(rows: pd.DataFrame, path: Path) -> Path | None:
    """mAP against ms/image (batch 1, one thread; log axis), Pareto-optimal variants joined and ringed."""
    usable = rows[rows[COST].notna() & rows[SCORE].notna()]
    if usable.empty:
        return None
    names = [f"{m} {d}" for m, d in zip(usable["model"], usable["dtype"], strict=True)]
    return plot_points(
        [float(x) for x in usable[COST]],
        [float(y) for y in usable[SCORE]],
        names,
        path,
        xlabel=COLUMNS[COST] + " (log)",
        title="Accuracy against measured latency",
        pareto=True,
        yerr=list(usable["mAP_std"].fillna(0.0)) if "mAP_std" in usable else None,
    )
