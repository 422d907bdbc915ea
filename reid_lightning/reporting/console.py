"""The results table printed at the end of a run (rich), in the thesis's R1 / R5 / R10 / mAP order; one
row per test target when the run tested on several (`market1501/rank1`, ...)."""

from rich.console import Console
from rich.table import Table

from reid_lightning.metrics.names import LABELS, RESULT_METRICS, split_result_key


def print_results(results: dict, title: str = "Test results") -> None:
    by_target: dict[str | None, dict] = {}
    for key, value in results.items():
        target, metric = split_result_key(key)
        if metric in RESULT_METRICS:
            by_target.setdefault(target, {})[metric] = value
    table = Table(title=title)
    named = any(target is not None for target in by_target)
    shown = [key for key in RESULT_METRICS if any(key in row for row in by_target.values())]
    if named:
        table.add_column("target")
    for key in shown:
        table.add_column(LABELS[key], justify="right")
    for target, row in by_target.items():
        cells = [f"{float(row[key]):.4f}" if key in row else "-" for key in shown]
        table.add_row(*([str(target)] if named else []), *cells)
    Console().print(table)
