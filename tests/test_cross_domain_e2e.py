"""End to end, as a user runs it: train.py on two synthetic sources at once, tested on two targets; eval.py
on its checkpoint with the same targets; the result tables give a row per target and a source x target
table. The second source is a tiny set of the second synthetic domain (`domain: b`: other clothes,
light, scenes, 8 cameras, 144x64 boxes), given inline (a mapping in data.sources), named `tiny_b` in
logs and tables.
"""

import json

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from reid_lightning.reporting.tables import collect, cross_domain_table, markdown_table
from tests.conftest import run_entry_point

TINY_KNOBS = "num_train_ids:12,num_test_ids:8,num_distractors:10,num_junk:4"
TARGETS = "data.targets=[synthetic_tiny,tiny_b]"


@pytest.fixture(scope="module")
def cross_domain_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("cross")
    paths = [f"paths.log_dir={base / 'logs'}", f"paths.data_dir={base / 'data'}"]
    second = f"{{key:tiny_b,name:synthetic,root:'{base / 'data' / 'tiny_b'}',options:{{domain:b,{TINY_KNOBS}}}}}"
    run_entry_point(
        "train.py",
        "data=synthetic_tiny",
        "data.height=64",
        "data.width=32",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=4",
        f"data.sources=[synthetic_tiny,{second}]",
        TARGETS,
        *paths,
    )
    (run_dir,) = (base / "logs" / "train" / "runs").iterdir()
    return base, run_dir, paths, second


@pytest.mark.slow
def test_two_sources_train_and_each_target_is_tested(cross_domain_run):
    _, run_dir, _, _ = cross_domain_run
    record = json.loads((run_dir / "result.json").read_text())
    assert record["status"] == "finished"
    assert record["sources"] == ["synthetic_tiny", "tiny_b"] and record["targets"] == ["synthetic_tiny", "tiny_b"]
    for target in ("synthetic_tiny", "tiny_b"):
        assert 0.0 <= record["metrics"][f"{target}/mAP"] <= 1.0 and f"{target}/rank1" in record["metrics"]
        assert (run_dir / f"ranked_lists_{target}.png").is_file()
    assert "rank1" not in record["metrics"]  # no unnamed test set
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    assert {"test/synthetic_tiny/rank1", "test/tiny_b/mAP"} <= set(events.Tags()["scalars"])
    assert {"test/synthetic_tiny/ranked_lists", "test/tiny_b/ranked_lists"} <= set(events.Tags()["images"])


@pytest.mark.slow
def test_results_table_has_a_row_per_target(cross_domain_run):
    base, run_dir, _, _ = cross_domain_run
    results = collect(run_dir.parent)
    assert list(results.finished["target"]) == ["synthetic_tiny", "tiny_b"]
    assert list(results.finished["source"]) == ["synthetic_tiny + tiny_b"] * 2
    assert "| synthetic_tiny |" in markdown_table(results, "4.4") and "| tiny_b |" in markdown_table(results, "4.4")
    assert "| synthetic_tiny + tiny_b |" in cross_domain_table(results)


@pytest.mark.slow
def test_eval_tests_a_checkpoint_on_each_target(cross_domain_run):
    base, run_dir, paths, second = cross_domain_run
    trained = json.loads((run_dir / "result.json").read_text())
    ckpt = trained["best_checkpoint"] or str(run_dir / "checkpoints" / "last.ckpt")
    run_entry_point(
        "eval.py", "data=synthetic_tiny", f"ckpt_path={ckpt}", f"data.targets=[synthetic_tiny,{second}]", *paths
    )
    (eval_dir,) = (base / "logs" / "eval" / "runs").iterdir()
    evaluated = json.loads((eval_dir / "result.json").read_text())
    assert evaluated["sources"] == ["synthetic_tiny", "tiny_b"]  # read from the training run's record
    for key in ("synthetic_tiny/rank1", "synthetic_tiny/mAP", "tiny_b/rank1", "tiny_b/mAP"):
        assert evaluated["metrics"][key] == pytest.approx(trained["metrics"][key], abs=1e-6)
