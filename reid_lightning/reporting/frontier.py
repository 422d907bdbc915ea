"""The accuracy-per-cost frontier of a sweep: a Pareto table and plot of mAP against measured latency.

Input: one row per exported model variant (a trained run in fp32 or int8) with its measured
`ms_per_image_b1_1t` and its `mAP` (run/frontier.py measures them). A variant is Pareto-optimal when no
other is both at least as fast and at least as accurate, and strictly better in one of the two: the
models worth choosing at some latency budget. Everything else on the table is dominated.
"""

from pathlib import Path

import pandas as pd

from reid_lightning.reporting.tables import pareto_front, plot_points

COST, SCORE = "ms_per_image_b1_1t", "mAP"
COLUMNS = {
    "model": "model",
    "dtype": "dtype",
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


def mark_pareto(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` with a boolean `pareto` column (rows without cost or mAP are never optimal)."""
    rows = rows.copy()
    rows["pareto"] = False
    usable = rows[rows[COST].notna() & rows[SCORE].notna()]
    best = pareto_front([float(c) for c in usable[COST]], [float(s) for s in usable[SCORE]])
    rows.loc[usable.index[best], "pareto"] = True
    return rows


def _cell(key: str, value) -> str:
    if isinstance(value, bool):
        return "**yes**" if value else ""
    if value is None or pd.isna(value):
        return "-"
    if key in ("params_total", "macs"):
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
    lines += ["| " + " | ".join(_cell(k, row[k]) for k in keys) + " |" for _, row in rows.iterrows()]
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
    )
