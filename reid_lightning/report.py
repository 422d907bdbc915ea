"""The results table printed at the end of a run (rich), in the thesis's R1 / R5 / R10 / mAP order."""

from rich.console import Console
from rich.table import Table

COLUMNS = (("rank1", "Rank-1"), ("rank5", "Rank-5"), ("rank10", "Rank-10"), ("mAP", "mAP"), ("mINP", "mINP"))


def print_results(results: dict, title: str = "Test results") -> None:
    table = Table(title=title)
    shown = [(key, name) for key, name in COLUMNS if key in results]
    for _, name in shown:
        table.add_column(name, justify="right")
    table.add_row(*(f"{float(results[key]):.4f}" for key, _ in shown))
    Console().print(table)
