"""The results table printed at the end of a run (rich), in the thesis's R1 / R5 / R10 / mAP order."""

from rich.console import Console
from rich.table import Table

from reid_lightning.metrics.names import LABELS, RESULT_METRICS


def print_results(results: dict, title: str = "Test results") -> None:
    table = Table(title=title)
    shown = [key for key in RESULT_METRICS if key in results]
    for key in shown:
        table.add_column(LABELS[key], justify="right")
    table.add_row(*(f"{float(results[key]):.4f}" for key in shown))
    Console().print(table)
