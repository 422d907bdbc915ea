"""The one list of retrieval metrics a run reports: key, label in printed tables, short table header.

The evaluator returns more (the CMC curve, the number of valid queries); these are the scalars that go
to the loggers as `val/<key>` and `test/<key>`, into `result.json`, and into the result tables.
"""

from collections.abc import Sequence
from typing import NamedTuple


class MetricName(NamedTuple):
    key: str  # in the evaluator's output, the logs and result.json
    label: str  # in the rich table printed at the end of a run
    short: str  # in the Markdown result tables (thesis style)


METRICS = (
    MetricName("rank1", "Rank-1", "R1"),
    MetricName("rank5", "Rank-5", "R5"),
    MetricName("rank10", "Rank-10", "R10"),
    MetricName("mAP", "mAP", "mAP"),
    MetricName("mINP", "mINP", "mINP"),
    MetricName("mAP_market", "mAP (Market code)", "mAP_m"),  # the official Market-1501 AP (interpolated)
)
LOGGED_METRICS = tuple(m.key for m in METRICS)  # logged as val/<key>, test/<key>
RESULT_METRICS = LOGGED_METRICS[:5]  # reported by a run and listed by the tables (R1 R5 R10 mAP mINP)
LABELS = {m.key: m.label for m in METRICS}
SHORT_LABELS = {m.key: m.short for m in METRICS}


def result_key(metric: str, target: str | None = None) -> str:
    """How a run reports `metric` on test target `target` (logs drop the `test/` prefix): `rank1`, or
    `market1501/rank1` when the run tests on named targets (data.targets)."""
    return metric if target is None else f"{target}/{metric}"


def result_keys(targets: Sequence[str] | None) -> list[tuple[str | None, str, str]]:
    """(target, metric, key in the run's results) of every reported metric on every test target; `targets`
    None means one unnamed test set. The targets are listed, never parsed back out of the keys: a run's
    results also hold other keys with a slash (`best_val/mAP`)."""
    return [(target, metric, result_key(metric, target)) for target in (targets or [None]) for metric in RESULT_METRICS]


def split_result_key(key: str) -> tuple[str | None, str]:
    """`market1501/rank1` -> ("market1501", "rank1"); `rank1` -> (None, "rank1"). Tells which metric a key
    holds; the first part is not always a target (`best_val/mAP`): list targets with `result_keys`."""
    prefix, _, metric = key.rpartition("/")
    return (prefix or None), metric
