"""Seeds folded into mean ± std and n per configuration, and the paired difference with its 95% interval,
on a toy 3-seed sweep of fake job folders, against numbers worked by hand."""

import math

import pytest
import yaml

from reid_lightning.reporting.run_records import FAILED, FINISHED, write_record
from reid_lightning.reporting.seeds import (
    configuration_keys,
    fold_seeds,
    folded_markdown,
    paired_difference,
    parse_selector,
)
from reid_lightning.reporting.tables import HEADERS, collect, main, markdown_table

RANK1 = {"gaussian_mask": [0.80, 0.82, 0.84], "stripes": [0.70, 0.75, 0.71]}
MAP = {"gaussian_mask": [0.60, 0.60, 0.63], "stripes": [0.50, 0.52, 0.54]}


def toy_sweep(tmp_path, drop=None):
    """2 partitions x seeds 0-2, one more run that failed; `drop` = (partition, seed) left unstarted."""
    sweep = tmp_path / "multirun"
    job = 0
    for partition in RANK1:
        for seed in range(3):
            if (partition, seed) == drop:
                continue
            folder = sweep / f"{job}_partition={partition},seed={seed}"
            (folder / ".hydra").mkdir(parents=True)
            (folder / ".hydra" / "overrides.yaml").write_text(
                yaml.safe_dump([f"partition={partition}", f"seed={seed}"])
            )
            write_record(
                folder,
                FINISHED,
                {},
                metrics={"rank1": RANK1[partition][seed], "rank5": 0.9, "rank10": 0.95, "mAP": MAP[partition][seed]},
            )
            job += 1
    failed = sweep / f"{job}_partition=global,seed=0"
    (failed / ".hydra").mkdir(parents=True)
    (failed / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["partition=global", "seed=0"]))
    write_record(failed, FAILED, {}, error="FloatingPointError")
    return collect(sweep)


def test_three_seeds_fold_into_mean_std_and_n(tmp_path):
    results = toy_sweep(tmp_path)
    keys = configuration_keys(results.varying)
    assert keys == ["partition"]
    folded = fold_seeds(results.finished, keys, ("rank1", "mAP")).set_index("partition")
    assert folded.loc["gaussian_mask", "n"] == 3 and folded.loc["stripes", "n"] == 3
    assert "global" not in folded.index  # its only run failed
    # by hand: deviations (-0.02, 0, 0.02) -> std sqrt(0.0008 / 2); (-0.02, 0.03, -0.01) -> sqrt(0.0014 / 2)
    assert folded.loc["gaussian_mask", "rank1_mean"] == pytest.approx(0.82)
    assert folded.loc["gaussian_mask", "rank1_std"] == pytest.approx(0.02)
    assert folded.loc["stripes", "rank1_mean"] == pytest.approx(0.72)
    assert folded.loc["stripes", "rank1_std"] == pytest.approx(math.sqrt(0.0007))
    assert folded.loc["stripes", "mAP_std"] == pytest.approx(0.02)
    table = folded_markdown(folded.reset_index(), keys, ("rank1", "mAP"), HEADERS)
    assert table.splitlines()[0] == "| partition | R1 | mAP | n |"
    assert "| gaussian_mask | 0.820 ± 0.020 | 0.610 ± 0.017 | 3 |" in table
    assert "| stripes | 0.720 ± 0.026 | 0.520 ± 0.020 | 3 |" in table


def test_table_3_2_layout_folds_the_seeds(tmp_path):
    table = markdown_table(toy_sweep(tmp_path), "3.2")
    assert table.splitlines()[0] == "| partition | R1 | R5 | R10 | mAP | n |"
    assert "| gaussian_mask | 0.820 ± 0.020 | 0.900 ± 0.000 | 0.950 ± 0.000 | 0.610 ± 0.017 | 3 |" in table


def test_command_prints_the_paired_difference(tmp_path, capsys):
    toy_sweep(tmp_path)
    main([str(tmp_path / "multirun"), "--layout", "3.2", "--compare", "partition=gaussian_mask", "partition=stripes"])
    printed = capsys.readouterr().out
    assert "partition=gaussian_mask - partition=stripes: rank1 +0.100 (95% interval +0.025 .. +0.175, n=3" in printed
    assert "mAP +0.090" in printed  # 0.10, 0.08, 0.09


def test_paired_difference_and_its_t_interval(tmp_path):
    runs = toy_sweep(tmp_path).finished
    diff = paired_difference(runs, parse_selector("partition=gaussian_mask"), {"partition": "stripes"}, "rank1")
    # differences by seed 0.10, 0.07, 0.13: mean 0.10, sd 0.03, t(0.975, 2) = 4.302653 -> half width 0.074524
    assert diff.n == 3 and diff.mean == pytest.approx(0.10)
    assert diff.low == pytest.approx(0.10 - 4.302653 * 0.03 / math.sqrt(3), abs=1e-6)
    assert diff.high == pytest.approx(0.174524, abs=1e-6)
    assert (
        diff.describe("gaussian_mask", "stripes")
        == "gaussian_mask - stripes: rank1 +0.100 (95% interval +0.025 .. +0.175, n=3 paired seeds)"
    )


def test_only_shared_seeds_are_paired(tmp_path):
    runs = toy_sweep(tmp_path, drop=("stripes", 1)).finished
    diff = paired_difference(runs, {"partition": "gaussian_mask"}, {"partition": "stripes"}, "rank1")
    assert diff.n == 2 and diff.mean == pytest.approx((0.10 + 0.13) / 2)  # seeds 0 and 2
    single = fold_seeds(runs, ["partition"], ("rank1",)).set_index("partition")
    assert single.loc["stripes", "n"] == 2


def test_bad_selectors_are_clear_errors(tmp_path):
    runs = toy_sweep(tmp_path).finished
    with pytest.raises(ValueError, match="no override backbone in this sweep"):
        paired_difference(runs, {"backbone": "osnet"}, {"partition": "stripes"}, "rank1")
    with pytest.raises(ValueError, match="several runs of one seed"):
        paired_difference(runs, {}, {"partition": "stripes"}, "rank1")
    with pytest.raises(ValueError, match="key=value"):
        parse_selector("predicted_mask")
