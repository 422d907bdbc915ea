"""Result tables from a multirun folder: finished, failed, started-but-unfinished and never-started jobs."""

import csv

import yaml

from reid_lightning.reporting.run_records import FAILED, FINISHED, write_record
from reid_lightning.reporting.tables import collect, main, markdown_table


def make_job(sweep, name, overrides, status=None, metrics=None, complexity=None):
    job = sweep / name
    (job / ".hydra").mkdir(parents=True)
    (job / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    if status:
        write_record(
            job,
            status,
            {},
            metrics=metrics,
            complexity=complexity or {},
            error="FloatingPointError: training loss is nan" if status == FAILED else None,
        )


def fake_sweep(tmp_path):
    sweep = tmp_path / "multirun"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        yaml.safe_dump(
            {"hydra": {"overrides": {"task": ["backbone=osnet,nasnet,dcti,resnet50", "trainer.max_epochs=1"]}}}
        )
    )
    metrics = {"rank1": 0.628, "rank5": 0.823, "rank10": 0.876, "mAP": 0.35, "mINP": 0.1}
    make_job(
        sweep,
        "0_backbone=osnet",
        ["backbone=osnet", "trainer.max_epochs=1"],
        FINISHED,
        metrics,
        {"params_total": 2193616, "macs": 250000000, "macs_thesis": 255199776},
    )
    make_job(
        sweep,
        "1_backbone=nasnet",
        ["backbone=nasnet", "trainer.max_epochs=1"],
        FINISHED,
        {**metrics, "rank1": 0.593},
        {"params_total": 4232978, "macs": 95000000, "macs_thesis": 99959103},
    )
    make_job(sweep, "2_backbone=dcti", ["backbone=dcti", "trainer.max_epochs=1"], FAILED)
    return sweep


def test_table_lists_finished_runs_and_reports_failed_and_missing(tmp_path):
    results = collect(fake_sweep(tmp_path))
    assert results.varying == ["backbone"]
    assert list(results.finished["backbone"]) == ["osnet", "nasnet"]
    assert list(results.failed["backbone"]) == ["dcti"]
    assert results.missing == ["backbone=resnet50,trainer.max_epochs=1"]
    table = markdown_table(results, "4.3")
    assert "| osnet | 2,193,616 | 255,199,776 |" in table
    assert "| nasnet | 4,232,978 | 99,959,103 |" in table
    assert "| osnet | 0.628 | 0.823 | 0.876 | 0.350 |" in markdown_table(results, "4.4")


def test_command_writes_markdown_csv_and_plot(tmp_path, capsys):
    sweep = fake_sweep(tmp_path)
    main([str(sweep), "--layout", "4.4"])
    printed = capsys.readouterr().out
    assert "failed: 2_backbone=dcti: FloatingPointError" in printed
    assert "never started): backbone=resnet50" in printed
    assert (sweep / "results.md").read_text().startswith("| backbone | R1 | R5 | R10 | mAP |")
    rows = list(csv.DictReader((sweep / "results.csv").open()))
    assert [r["status"] for r in rows] == ["finished", "finished", "failed"]
    assert (sweep / "map_vs_macs.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_not_a_multirun_folder_is_a_clear_error(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="no Hydra job folders"):
        collect(tmp_path)


def test_rows_follow_the_job_numbers_not_the_folder_names(tmp_path):
    sweep = tmp_path / "multirun"
    lrs = [f"optimizer.lr={i}" for i in range(12)]
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        yaml.safe_dump({"hydra": {"overrides": {"task": ["optimizer.lr=" + ",".join(str(i) for i in range(12))]}}})
    )
    for i in (11, 2, 10, 0, 1, 3, 4, 5, 6, 7, 8, 9):
        make_job(sweep, f"{i}_{lrs[i]}", [lrs[i]], FINISHED, {"rank1": 0.5}, {})
    assert list(collect(sweep).finished["run"]) == [f"{i}_{lrs[i]}" for i in range(12)]  # 10_ after 9_


def test_a_named_sweep_reports_jobs_of_its_config_params_that_never_started(tmp_path):
    """sweeps/*.yaml sweep `hydra.sweeper.params`; the command line then only says `sweep=<name>`."""
    sweep = tmp_path / "multirun"
    sweep.mkdir()
    (sweep / "multirun.yaml").write_text(
        yaml.safe_dump(
            {
                "hydra": {
                    "overrides": {"task": ["sweep=quick"]},
                    "sweeper": {
                        "_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                        "params": {"backbone": "osnet,nasnet", "partition": "global"},
                    },
                }
            }
        )
    )
    make_job(
        sweep,
        "0_backbone=osnet,partition=global",
        ["backbone=osnet", "partition=global", "sweep=quick"],
        FINISHED,
        {"rank1": 0.5},
        {},
    )
    assert collect(sweep).missing == ["backbone=nasnet,partition=global,sweep=quick"]
