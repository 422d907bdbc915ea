"""Multi-source training and cross-domain testing without training: the union of train sets keeps
identities apart, balancing weights, the data module's loaders and part maps per dataset, preset
resolution (data.sources / data.targets), per-target records in the console and the result tables."""

from pathlib import Path

import pytest
import yaml
from hydra import initialize_config_dir
from hydra.core.hydra_config import HydraConfig

from reid_lightning.data.datamodule import ReIDDataModule
from reid_lightning.data.datasets import DatasetSpec
from reid_lightning.data.multi_source import source_weights, union_of_train_sets
from reid_lightning.data.sampler import IdentitySampler
from reid_lightning.data.samples import Sample
from reid_lightning.reporting.console import print_results
from reid_lightning.reporting.run_records import FINISHED, write_record
from reid_lightning.reporting.tables import collect, cross_domain_table, markdown_table
from reid_lightning.run.data_presets import dataset_specs
from reid_lightning.run.resolvers import register
from tests.conftest import data_config
from tests.fake_datasets import touch_all

CONF = Path(__file__).resolve().parents[1] / "conf"


def _samples(key: str, pids: list[int]) -> list[Sample]:
    return [Sample(Path(f"/{key}/{i}.jpg"), pid, 0, key) for i, pid in enumerate(pids)]


def test_union_shifts_each_sources_labels_past_the_previous_ones():
    union, num_classes = union_of_train_sets([("a", _samples("x", [0, 1, 1])), ("b", _samples("y", [1, 0]))])
    assert [(s.pid, s.dataset) for s in union] == [(0, "a"), (1, "a"), (1, "a"), (3, "b"), (2, "b")]
    assert num_classes == 4 and union[3].path == Path("/y/0.jpg")
    with pytest.raises(ValueError, match=r"train labels of source c are not 0\.\.1"):
        union_of_train_sets([("c", _samples("z", [0, 5]))])


def test_source_weights_draw_every_source_equally():
    weights = source_weights(_samples("a", [0, 0, 0]) + _samples("b", [0]))
    assert weights == pytest.approx([1 / 6, 1 / 6, 1 / 6, 1 / 2])


def test_identity_sampler_balances_sources_by_groups():
    pids = [p for p in range(6) for _ in range(4)] + [6, 6, 6, 6]  # source a: 6 ids, source b: 1 id (K=4)
    sources = ["a"] * 24 + ["b"] * 4
    plain = list(IdentitySampler(pids, batch_size=4, num_instances=4, seed=0))
    balanced = list(IdentitySampler(pids, batch_size=4, num_instances=4, seed=0, sources=sources))
    assert sum(pids[i] == 6 for i in plain) == 4 and len(plain) == 28
    assert sum(pids[i] == 6 for i in balanced) == 24 and len(balanced) == 48  # b's one group, 6 times


def _market_tree(root: Path, train: list[str], query: list[str], gallery: list[str]) -> Path:
    for folder, names in (("bounding_box_train", train), ("query", query), ("bounding_box_test", gallery)):
        touch_all(root / folder, names)
    return root


@pytest.fixture
def two_trees(tmp_path):
    a = _market_tree(
        tmp_path / "a",
        ["0001_c1s1_0_00.jpg", "0001_c2s1_0_00.jpg", "0007_c1s1_0_00.jpg"],
        ["0010_c1s1_0_00.jpg"],
        ["0010_c2s1_0_00.jpg", "0000_c3s1_0_00.jpg"],
    )
    b = _market_tree(
        tmp_path / "b", ["0001_c1s1_0_00.jpg", "0001_c2s1_0_00.jpg"], ["0020_c1s1_0_00.jpg"], ["0020_c2s1_0_00.jpg"]
    )
    b_maps = str(tmp_path / "pb")  # b's part maps live outside its root
    return DatasetSpec("a", "market1501", str(a)), DatasetSpec("b", "market1501", str(b), part_maps=b_maps)


def test_data_module_trains_on_the_union_and_tests_each_target(two_trees):
    a, b = two_trees
    # empty image files: the per-file path
    cfg = data_config(name="market1501", root=a.root, val_split=None, batch_size=2, num_workers=0, cache=False)
    data = ReIDDataModule(cfg, sources=[a, b])
    assert data.num_classes == 3 and data.test_targets == ["a", "b"]  # targets default to the sources
    assert [(s.path.parent.parent.name, s.pid, s.dataset) for s in data.training.train] == [
        ("a", 0, "a"),
        ("a", 0, "a"),
        ("a", 1, "a"),
        ("b", 2, "b"),
        ("b", 2, "b"),
    ]
    loaders = data.test_dataloader()
    assert [len(loader.dataset) for loader in loaders] == [3, 2]
    assert [s.pid for s in loaders[1].dataset.samples] == [20, 20] and loaders[1].dataset.is_query == [True, False]
    only_b = ReIDDataModule(
        data_config(name="market1501", root=a.root, val_split=None, cache=False), sources=[a], targets=[b]
    )
    assert only_b.test_targets == ["b"] and len(only_b.test_dataloader().dataset) == 2
    single = ReIDDataModule(data_config(name="market1501", root=a.root, val_split=None))
    assert single.test_targets is None and single.sources[0].key == "market1501"
    with pytest.raises(ValueError, match=r"data.targets names a dataset twice \(b, b\)"):
        ReIDDataModule(data_config(), sources=[a], targets=[b, b])
    with pytest.raises(ValueError, match=r"both name a, as different datasets"):
        ReIDDataModule(data_config(), sources=[a], targets=[DatasetSpec("a", "market1501", b.root)])


def test_balanced_random_sampling_and_part_maps_per_dataset(two_trees, tmp_path):
    a, b = two_trees
    cfg = data_config(
        name="market1501", root=a.root, val_split=None, batch_size=2, num_workers=0, balance_sources=True, cache=False
    )
    sampler = ReIDDataModule(cfg, sources=[a, b]).train_dataloader().sampler
    assert sampler.weights.tolist() == pytest.approx([1 / 6] * 3 + [1 / 4] * 2)
    with_maps = ReIDDataModule(cfg, load_part_maps=True, sources=[a, b])
    with pytest.raises(FileNotFoundError, match=r"part maps are missing in .*a/part_maps"):
        with_maps.setup("fit")
    for spec, split in ((a, "bounding_box_train"), (a, "query"), (a, "bounding_box_test")):
        touch_all(spec.part_root / split, [p.with_suffix(".png").name for p in (Path(spec.root) / split).iterdir()])
    with pytest.raises(FileNotFoundError, match=r"part maps are missing in .*pb"):  # b's maps live elsewhere
        with_maps.setup("fit")
    for split in ("bounding_box_train", "query", "bounding_box_test"):
        touch_all(tmp_path / "pb" / split, [p.with_suffix(".png").name for p in (Path(b.root) / split).iterdir()])
    with_maps.setup("fit")
    maps = with_maps.train_dataloader().dataset.part_map_paths  # (a's train maps, then b's)
    assert maps[0] == Path(a.root) / "part_maps" / "bounding_box_train" / "0001_c1s1_0_00.png"
    assert maps[-1] == tmp_path / "pb" / "bounding_box_train" / "0001_c2s1_0_00.png"


@pytest.fixture(scope="module")
def hydra_conf():
    """Hydra's config dir, and no run config left by other tests (presets compose with the run's overrides)."""
    register()
    HydraConfig.instance().cfg = None
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        yield


def test_presets_and_mappings_resolve_to_dataset_specs(hydra_conf, monkeypatch, tmp_path):
    monkeypatch.setenv("MARKET1501_ROOT", "/data/market")
    monkeypatch.setenv("CUHK03_NP_ROOT", "/data/cuhk")
    sources = dataset_specs(
        [
            "market1501",
            {"key": "mine", "name": "folder", "root": "/data/mine", "options": {"missing_camids": "distinct"}},
        ],
        "data.sources",
    )
    assert sources[0] == DatasetSpec("market1501", "market1501", "/data/market", {}, None)
    assert sources[1] == DatasetSpec("mine", "folder", "/data/mine", {"missing_camids": "distinct"}, None)
    targets = dataset_specs(["mine", "cuhk03_np", "synthetic_tiny"], "data.targets", known=sources)
    assert targets[0] is sources[1] and targets[1].options == {"variant": "detected"}
    assert targets[2].name == "synthetic" and targets[2].root.endswith("data/synthetic_tiny")
    assert dataset_specs(None, "data.targets") is None


def test_the_runs_own_preset_keeps_its_command_line_settings_as_source_or_target(hydra_conf, monkeypatch):
    from hydra import compose

    from reid_lightning.run.build import build_datamodule

    monkeypatch.setenv("DUKEMTMC_ROOT", "/data/duke")
    cfg = compose("train", ["data=market1501", "data.root=/mine/market", "data.targets=[dukemtmc,market1501]"])
    data = build_datamodule(cfg, load_part_maps=False)
    assert [(t.key, t.root) for t in data.targets] == [("dukemtmc", "/data/duke"), ("market1501", "/mine/market")]
    assert data.sources == [data.targets[1]] and data.test_targets == ["dukemtmc", "market1501"]
    evaluation = build_datamodule(cfg, load_part_maps=False, train=False)
    assert evaluation.sources == evaluation.targets  # nothing is trained on: the targets stand in


def test_preset_and_mapping_errors(hydra_conf, monkeypatch):
    monkeypatch.delenv("MARKET1501_ROOT", raising=False)
    with pytest.raises(
        ValueError,
        match=r"data.sources preset market1501 \(market1501\) has no root folder.*"
        r"MARKET1501_ROOT",
    ):
        dataset_specs(["market1501"], "data.sources")
    with pytest.raises(ValueError, match=r"names 'dukemtcm', which is not a conf/data preset.*close matches: dukemtmc"):
        dataset_specs(["dukemtcm"], "data.sources")
    with pytest.raises(ValueError, match=r"needs name and root .*unknown: rooot"):
        dataset_specs([{"name": "folder", "rooot": "/x"}], "data.targets")
    with pytest.raises(ValueError, match=r"data.sources='market1501' must be a non-empty list"):
        dataset_specs("market1501", "data.sources")


def test_console_prints_one_row_per_target(capsys):
    results = {
        "a/rank1": 0.5,
        "a/mAP": 0.25,
        "b/rank1": 0.125,
        "b/mAP": 0.0625,
        "a/num_valid_queries": 3,
        "best_val/mAP": 0.75,
    }
    print_results(results, targets=["a", "b"])
    out = capsys.readouterr().out
    assert "target" in out and "0.5000" in out and "0.0625" in out and "num_valid" not in out
    assert "best_val" not in out and "0.7500" not in out  # a key with a slash is not a target
    print_results({"rank1": 0.5, "mAP": 0.25, "best_val/mAP": 0.75})
    out = capsys.readouterr().out
    assert "target" not in out and "0.2500" in out and "0.7500" not in out


def _job(sweep: Path, name: str, overrides: list[str], sources: list[str], metrics: dict) -> None:
    (sweep / name / ".hydra").mkdir(parents=True)
    (sweep / name / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(overrides))
    write_record(sweep / name, FINISHED, {}, metrics=metrics, sources=sources, targets=["syn", "syn_b"])


def test_tables_give_a_row_per_target_and_lay_sources_against_targets(tmp_path):
    def scores(r1_syn, r1_b):
        return {
            "syn/rank1": r1_syn,
            "syn/mAP": r1_syn / 2,
            "syn_b/rank1": r1_b,
            "syn_b/mAP": r1_b / 2,
            "best_val/mAP": 0.9,
        }  # the validation score beside them is no target

    _job(tmp_path, "0_data=synthetic", ["data=synthetic"], ["syn"], scores(0.8, 0.3))
    _job(tmp_path, "1_data=synthetic_b", ["data=synthetic_b"], ["syn_b"], scores(0.2, 0.6))
    results = collect(tmp_path)
    assert list(zip(results.runs["source"], results.runs["target"], results.runs["rank1"], strict=True)) == [
        ("syn", "syn", 0.8),
        ("syn", "syn_b", 0.3),
        ("syn_b", "syn", 0.2),
        ("syn_b", "syn_b", 0.6),
    ]
    table = markdown_table(results, "4.4")
    assert "| data | target | R1 | R5 | R10 | mAP |" in table
    assert "| synthetic_b | syn | 0.200 | - | - | 0.100 |" in table
    assert "best_val" not in table
    cross = cross_domain_table(results).splitlines()
    assert cross[2:] == [
        "| data | source \\ target | syn | syn_b |",
        "|---|---|---:|---:|",
        "| synthetic | syn | 0.800 / 0.400 | 0.300 / 0.150 |",
        "| synthetic_b | syn_b | 0.200 / 0.100 | 0.600 / 0.300 |",
    ]


def test_part_maps_of_images_outside_their_root_are_a_clear_error(tmp_path):
    touch_all(tmp_path / "data", [])
    (tmp_path / "data" / "manifest.csv").write_text(f"path,pid,camid,split\n{tmp_path}/elsewhere/a.jpg,1,0,train\n")
    spec = DatasetSpec("mine", "csv", str(tmp_path / "data"))
    data = ReIDDataModule(data_config(name="csv", root=spec.root, val_split=None), load_part_maps=True, sources=[spec])
    with pytest.raises(ValueError, match=r"image .*elsewhere/a\.jpg of mine lies outside its dataset root"):
        data.setup("fit")


def test_a_plain_run_with_a_validation_score_is_one_row(tmp_path):
    (tmp_path / "0_x" / ".hydra").mkdir(parents=True)
    (tmp_path / "0_x" / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["backbone=osnet"]))
    write_record(
        tmp_path / "0_x",
        FINISHED,
        {},
        metrics={"rank1": 0.5, "mAP": 0.25, "best_val/mAP": 0.75},
        sources=["synthetic"],
        targets=None,
    )
    (tmp_path / "1_y" / ".hydra").mkdir(parents=True)  # a plain run's record listing its tested dataset
    (tmp_path / "1_y" / ".hydra" / "overrides.yaml").write_text(yaml.safe_dump(["backbone=dcti"]))
    write_record(tmp_path / "1_y", FINISHED, {}, metrics={"rank1": 0.25}, sources=["synthetic"], targets=["synthetic"])
    results = collect(tmp_path)
    assert len(results.runs) == 2 and results.runs["target"].isna().all()
    assert list(results.runs["rank1"]) == [0.5, 0.25]
    assert not results.has_targets and cross_domain_table(results) == ""
