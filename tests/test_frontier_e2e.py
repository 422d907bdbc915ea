"""sweep=frontier end to end on the tiny set, kept short: one backbone (DCTI, quick to export) trained plainly
and as a student distilled from that plain run (found in the sweep folder), one epoch each; then the Hydra
callback exports both (fp32 and int8 ONNX), times and scores every file and writes the Pareto table and plot."""

import csv

import pytest

from tests.conftest import run_entry_point


@pytest.mark.slow
def test_frontier_sweep_writes_a_pareto_table_and_plot(tmp_path):
    sweep = tmp_path / "sweep"
    run_entry_point(
        "train.py",
        "sweep=frontier",
        "data=synthetic_tiny",
        f"paths.data_dir={tmp_path / 'data'}",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.sweep.dir={sweep}",
        "trainer.max_epochs=1",
        "hydra.sweeper.params.backbone=dcti",
        "frontier_teacher=dcti",
        "callbacks.ranked_list=null",
        "callbacks.complexity.latency=false",  # the report times the exported files itself
        "hydra.callbacks.frontier.repeats=1",
        "hydra.callbacks.frontier.warmup=0",
        "hydra.callbacks.frontier.calibration_count=8",
    )
    jobs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert jobs == ["0_distill=default,backbone=dcti", "1_distill=frontier,backbone=dcti"]
    student_log = next((sweep / jobs[1]).glob("*.log")).read_text()
    assert f"Distilling from {sweep / jobs[0]}" in student_log
    rows = list(csv.DictReader((sweep / "frontier.csv").open()))
    assert [(r["model"], r["dtype"]) for r in rows] == [
        ("dcti", "fp32"),
        ("dcti", "int8"),
        ("dcti (distilled)", "fp32"),
        ("dcti (distilled)", "int8"),
    ]
    for row in rows:
        assert float(row["ms_per_image_b1_1t"]) > 0 and 0 <= float(row["mAP"]) <= 1
        assert row["pareto"] in ("True", "False")
    assert any(r["pareto"] == "True" for r in rows)
    table = (sweep / "frontier.md").read_text()
    assert "| model | dtype |" in table and "**yes**" in table and "machine:" in table
    assert (sweep / "frontier.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (sweep / jobs[0] / "export" / "model_int8.onnx").is_file()
