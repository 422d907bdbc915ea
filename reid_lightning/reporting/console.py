"""The results table printed at the end of a run (rich), in the thesis's R1 / R5 / R10 / mAP order; one
row per test target when the run tested on named targets (`market1501/rank1`, ...)."""

from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from reid_lightning.metrics.names import LABELS, RESULT_METRICS, result_keys


def print_results(results: dict, title: str = "Test results", targets: Sequence[str] | None = None) -> None:
    """`targets`: the named test targets whose `<target>/<metric>` results to show; None: plain `<metric>`."""
    rows: dict[str | None, dict] = {}
    for target, metric, key in result_keys(targets):
        if key in results:
            rows.setdefault(target, {})[metric] = results[key]
    shown = [m for m in RESULT_METRICS if any(m in row for row in rows.values())]
    table = Table(title=title)
    if targets:
        table.add_column("target")
    for metric in shown:
        table.add_column(LABELS[metric], justify="right")
    for target, row in rows.items():
        cells = [f"{float(row[m]):.4f}" if m in row else "-" for m in shown]
        table.add_row(*([str(target)] if targets else []), *cells)
    Console().print(table)
