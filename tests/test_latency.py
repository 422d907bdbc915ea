"""Measured cost: latency figures under ONNX Runtime, the machine they were measured on, and where they go
(the complexity callback's record, sweep tables and the mAP-vs-latency plot). Figures are only checked to be
positive and present: speed itself is measured in bench/, never asserted."""

import pytest
import torch
import yaml
from torch import nn

from reid_lightning.analysis.latency import machine, measure_network, median_seconds
from reid_lightning.reporting.run_records import FINISHED, write_record
from reid_lightning.reporting.tables import collect, markdown_table, pareto_front, spread_labels, write_all


def test_median_seconds_is_the_median_of_the_timed_calls():
    calls = []
    assert median_seconds(lambda: calls.append(1), warmup=2, repeats=3) >= 0
    assert len(calls) == 5  # 2 untimed + 3 timed
    with pytest.raises(ValueError, match="repeats"):
        median_seconds(lambda: None, warmup=0, repeats=0)


def test_machine_records_cpu_cores_and_versions():
    info = machine()
    assert info["cores"] >= 1 and info["cpu"] and info["torch"] == torch.__version__
    assert info["onnxruntime"] and "gpu" in info


def test_measure_network_gives_positive_figures_and_the_machine(one_torch_thread):
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    result = measure_network(net, (torch.zeros(2, 3, 16, 8),), repeats=2, warmup=1, gpu=False)
    assert "latency_error" not in result
    for key in ("ms_per_image_b1_1t", "ms_per_image_b1_all", "images_per_s_b32_1t", "images_per_s_b32_all"):
        assert result[key] > 0, key
    assert result["machine"]["cores"] >= 1 and result["latency_repeats"] == 2


def test_a_network_the_exporter_cannot_write_records_the_error(monkeypatch):
    import reid_lightning.deploy.export as export

    def refuse(*args, **kwargs):
        raise RuntimeError("unsupported operator aten::made_up")

    monkeypatch.setattr(export, "export_onnx", refuse)
    net = nn.Flatten()
    result = measure_network(net, (torch.zeros(2, 3, 4, 4),), repeats=1, warmup=0, gpu=False)
    assert result["latency_error"] == (
        "ONNX export or ONNX Runtime timing failed: RuntimeError: unsupported operator aten::made_up"
    )
    assert "ms_per_image_b1_1t" not in result and result["machine"]["cores"] >= 1


def test_callback_adds_latency_to_the_record(tmp_path, monkeypatch):
    import reid_lightning.callbacks.complexity_logger as logger
    from reid_lightning.callbacks.complexity_logger import ComplexityCallback
    from reid_lightning.reporting.run_records import read_complexity
    from tests.test_complexity import fit

    monkeypatch.setattr(
        logger,
        "measure_model",
        lambda model, repeats, warmup: {
            "ms_per_image_b1_1t": 1.5,
            "latency_repeats": repeats,
            "machine": {"cpu": "x", "cores": 2},
        },
    )
    fit(tmp_path, ComplexityCallback(latency=True, latency_repeats=3, latency_warmup=0))
    record = read_complexity(tmp_path)
    assert record["ms_per_image_b1_1t"] == 1.5 and record["latency_repeats"] == 3 and record["machine"]["cores"] == 2
    assert record["params_total"] == 131  # the counted cost stays
    with pytest.raises(ValueError, match="latency_repeats"):
        ComplexityCallback(latency=True, latency_repeats=0)


def test_sweep_tables_show_latency_when_measured_and_plot_it(tmp_path):
    sweep = tmp_path / "multirun"
    for i, (name, ms, mAP) in enumerate([("osnet", 14.3, 0.35), ("mobilenetv2", 1.3, 0.30), ("dcti", 20.0, 0.2)]):
        job = sweep / f"{i}_backbone={name}"
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump([f"backbone={name}"]))
        write_record(
            job,
            FINISHED,
            {},
            metrics={"rank1": 0.5, "mAP": mAP},
            complexity={"params_total": 10, "macs": 100, "ms_per_image_b1_1t": ms, "images_per_s_b32_all": 1000 / ms},
        )
    results = collect(sweep)
    table = markdown_table(results, "4.3")
    assert "ms/img (b1, 1 thr)" in table and "| osnet | 10 | - | 14.30 | 70 |" in table
    assert "GPU img/s fp16" not in table  # never measured: no empty column
    paths = write_all(results, tmp_path / "out")
    assert paths["latency plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pareto_front_and_label_spreading():
    # costs / scores: b is cheaper and better than c; a is cheapest; d is most accurate
    assert pareto_front([1.0, 2.0, 3.0, 4.0], [0.1, 0.5, 0.4, 0.9]) == [0, 1, 3]
    assert pareto_front([1.0, 1.0], [0.5, 0.5]) == [0, 1]  # ties dominate neither
    placed = spread_labels([0.30, 0.31, 0.50], 0.05)
    assert placed[1] - placed[0] == pytest.approx(0.05) and placed[2] >= placed[1] + 0.05


def test_table_4_3_prints_measured_columns_and_the_machine(capsys, monkeypatch):
    import reid_lightning.analysis.complexity as complexity

    asked = {}

    def table(height, width, latency_repeats=0, latency_warmup=2):
        asked["repeats"] = latency_repeats
        return [
            {
                "model": "OSNet",
                "params": 1,
                "params_thesis": 1,
                "macs_thesis_convention": 2,
                "macs_thesis": 2,
                "params_distinct": 1,
                "macs": 1,
                "flops": 2,
                "note": "n",
                "ms_per_image_b1_1t": 14.25,
                "images_per_s_b32_all": 61.9,
                "machine": {"cpu": "AMD EPYC", "cores": 2},
            }
        ]

    monkeypatch.setattr(complexity, "table_4_3", table)
    complexity.main(["--latency", "--repeats", "3"])
    out = capsys.readouterr().out
    assert asked["repeats"] == 3 and "ms/img b1 1thr" in out and "14.25" in out and "62" in out
    assert "median of 3 calls" in out and "AMD EPYC" in out


def test_frontier_folds_seeds_into_one_row_per_variant():
    """Two seeds of OSNet fp32/int8 and one of MobileNetV2: means, sample stds (ddof=1) and medians by hand."""
    import pandas as pd

    from reid_lightning.reporting.frontier import fold_variants, frontier_markdown, mark_pareto

    runs = pd.DataFrame(
        [
            {"model": "osnet", "dtype": "fp32", "seed": "0", "mAP": 0.40, "rank1": 0.50, "ms_per_image_b1_1t": 10.0},
            {"model": "osnet", "dtype": "int8", "seed": "0", "mAP": 0.38, "rank1": 0.50, "ms_per_image_b1_1t": 6.0},
            {"model": "osnet", "dtype": "fp32", "seed": "1", "mAP": 0.50, "rank1": 0.60, "ms_per_image_b1_1t": 12.0},
            {"model": "osnet", "dtype": "int8", "seed": "1", "mAP": 0.46, "rank1": 0.60, "ms_per_image_b1_1t": 7.0},
            {
                "model": "mobilenetv2",
                "dtype": "fp32",
                "seed": "0",
                "mAP": 0.30,
                "rank1": 0.4,
                "ms_per_image_b1_1t": 2.0,
            },
        ]
    )
    runs.loc[[1, 3], "mAP_change"] = [-0.02, -0.04]
    folded = mark_pareto(fold_variants(runs))
    assert list(zip(folded["model"], folded["dtype"], folded["n"], strict=True)) == [
        ("osnet", "fp32", 2),
        ("osnet", "int8", 2),
        ("mobilenetv2", "fp32", 1),
    ]
    assert folded["mAP"].tolist() == pytest.approx([0.45, 0.42, 0.30])
    assert folded["mAP_std"].tolist()[:2] == pytest.approx([0.1 / 2**0.5, 0.08 / 2**0.5])  # |a-b|/sqrt(2)
    assert pd.isna(folded["mAP_std"].iloc[2])  # one run: no spread
    assert folded["mAP_change"].iloc[1] == pytest.approx(-0.03)
    assert folded["ms_per_image_b1_1t"].tolist() == [11.0, 6.5, 2.0]  # median of the runs
    assert folded["pareto"].tolist() == [True, True, True]  # each is the most accurate at its latency
    table = frontier_markdown(folded)
    assert "| seeds |" in table and "0.450 ± 0.071" in table and "| 1 |" in table
