"""Seeds as an axis of the result tables: fold a sweep over `seed=` into mean ± std and n per configuration,
and compare two configurations by their paired difference with a 95% interval.

- A configuration is a run's override values without the seed. Its metric is reported as the mean over
  its finished runs, ± the sample standard deviation (ddof=1; undefined, "-", for one run), with n.
- Two configurations are compared seed by seed: d_s = metric(A, seed s) - metric(B, seed s) over the seeds
  both finished, mean(d) ± t(0.975, n-1) * sd(d) / sqrt(n) (Student's t, scipy.stats.t). Pairing removes
  what a seed does to both (the data order, the initialisation), so the interval is narrower than one
  from the two rows' own spreads when they move together.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
from scipy import stats

SEED_KEY = "seed"


def configuration_keys(varying: list[str], seed_key: str = SEED_KEY) -> list[str]:
    """The override keys that tell configurations apart: the varying ones without the seed."""
    return [k for k in varying if k != seed_key]


def fold_seeds(runs: pd.DataFrame, keys: list[str], metrics: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Finished runs (one per row, metric columns) -> one row per configuration of `keys`, in order of first
    appearance: the keys, `n`, and `<metric>_mean`, `<metric>_std` (ddof=1, NaN for one run)."""
    if runs.empty:
        return pd.DataFrame(columns=[*keys, "n", *(f"{m}_{s}" for m in metrics for s in ("mean", "std"))])
    labels = runs[keys].astype(str) if keys else pd.DataFrame(index=runs.index)
    rows = []
    groups = labels.groupby(keys, sort=False).groups if keys else {(): runs.index}
    for values, index in groups.items():
        values = values if isinstance(values, tuple) else (values,)
        group = runs.loc[index, list(metrics)].astype(float)
        row = dict(zip(keys, values, strict=True)) | {"n": len(group)}
        for metric in metrics:
            row[f"{metric}_mean"] = group[metric].mean()
            row[f"{metric}_std"] = group[metric].std(ddof=1)
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class PairedDifference:
    metric: str
    mean: float  # mean over the shared seeds of metric(A) - metric(B)
    low: float  # the interval at `confidence` (NaN with fewer than 2 pairs)
    high: float
    n: int  # seeds both configurations finished
    confidence: float = 0.95

    def describe(self, first: str, second: str) -> str:
        interval = "-" if math.isnan(self.low) else f"{self.low:+.3f} .. {self.high:+.3f}"
        return (
            f"{first} - {second}: {self.metric} {self.mean:+.3f} ({self.confidence:.0%} interval {interval}, "
            f"n={self.n} paired seeds)"
        )


def select(runs: pd.DataFrame, selector: dict[str, str]) -> pd.DataFrame:
    """The runs whose overrides match every key=value of `selector` (values compared as text)."""
    unknown = [k for k in selector if k not in runs.columns]
    if unknown:
        known = ", ".join(c for c in runs.columns if c not in ("run", "status", "error"))
        raise ValueError(f"no override {', '.join(unknown)} in this sweep; its columns: {known}")
    mask = pd.Series(True, index=runs.index)
    for key, value in selector.items():
        mask &= runs[key].astype(str) == str(value)
    return runs[mask]


def paired_difference(
    runs: pd.DataFrame,
    first: dict[str, str],
    second: dict[str, str],
    metric: str,
    seed_key: str = SEED_KEY,
    confidence: float = 0.95,
) -> PairedDifference:
    """metric(first) - metric(second), paired by seed over the seeds both have; see the module docstring."""
    if seed_key not in runs.columns:
        raise ValueError(f"the sweep has no '{seed_key}' override; sweep seed=0,1,2 to pair runs by seed")

    def by_seed(selector: dict[str, str], name: str) -> pd.Series:
        chosen = select(runs, selector)
        seeds = chosen[seed_key].astype(str)
        if seeds.duplicated().any():
            raise ValueError(
                f"the {name} selection {selector} matches several runs of one seed; add keys to pick one configuration"
            )
        return chosen[metric].astype(float).set_axis(seeds)

    a, b = by_seed(first, "first"), by_seed(second, "second")
    shared = [s for s in a.index if s in b.index]
    diffs = a[shared].to_numpy() - b[shared].to_numpy()  # (n,) in the first selection's run order
    n = len(diffs)
    if n == 0:
        raise ValueError(f"{first} and {second} share no finished seed; nothing to pair")
    mean = float(diffs.mean())
    if n < 2:
        return PairedDifference(metric, mean, math.nan, math.nan, n, confidence)
    half = float(stats.t.ppf((1 + confidence) / 2, n - 1) * diffs.std(ddof=1) / math.sqrt(n))
    return PairedDifference(metric, mean, mean - half, mean + half, n, confidence)


def parse_selector(text: str) -> dict[str, str]:
    """'partition=predicted_mask,classifier=shared' -> {'partition': 'predicted_mask', 'classifier': 'shared'}."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    bad = [item for item in items if "=" not in item]
    if not items or bad:
        raise ValueError(
            f"cannot read the row selector {text!r}; write key=value[,key=value...], e.g. partition=predicted_mask"
        )
    return dict(item.split("=", 1) for item in items)


def format_mean_std(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "-"
    return f"{mean:.3f}" if pd.isna(std) else f"{mean:.3f} ± {std:.3f}"


def folded_markdown(
    folded: pd.DataFrame,
    keys: list[str],
    columns: tuple[str, ...],
    headers: dict[str, str],
    spread: tuple[str, ...] | None = None,
    format_value: Callable[[str, float], str] | None = None,
) -> str:
    """One Markdown row per configuration: its key values, each column's mean ± std, n.

    Columns outside `spread` (default: all) show the mean alone through `format_value(key, value)`
    (a model's parameter count does not vary with the seed)."""
    spread = columns if spread is None else spread
    label = " / ".join(keys) or "runs"
    lines = [
        f"| {label} | " + " | ".join(headers.get(c, c) for c in columns) + " | n |",
        "|---|" + "---:|" * (len(columns) + 1),
    ]
    for _, row in folded.iterrows():
        name = " + ".join(str(row[k]) for k in keys) if keys else "all"
        cells = [
            format_mean_std(row[f"{c}_mean"], row[f"{c}_std"])
            if c in spread or format_value is None
            else format_value(c, row[f"{c}_mean"])
            for c in columns
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {int(row['n'])} |")
    return "\n".join(lines)
