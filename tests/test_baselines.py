"""The BoT, AGW and SBS presets (issue 24): their schedules, backbone options and weights, that they compose with
the thesis's heads and train a step, and the center loss's own update inside the module."""

import warnings
from pathlib import Path

import pytest
import timm
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from reid_lightning.models.backbones import create_backbone
from reid_lightning.models.backbones.resnet_options import IBN, NonLocal
from reid_lightning.models.module import ReIDModule
from reid_lightning.models.optimization import build_scheduler
from reid_lightning.run.build import model_config
from reid_lightning.run.resolvers import register
from tests.conftest import run_entry_point

CONF = Path(__file__).resolve().parents[1] / "conf"
PRESETS = ("bot_r50", "agw_r50", "sbs_r50", "bot_osnet")
SMALL = ["data.height=64", "data.width=32", "backbone.pretrained=false"]  # a CPU-sized step; no weights to fetch


def preset(*overrides: str):
    register()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=list(overrides))


def learning_rates(name: str, epochs: int, **options) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    scheduler = build_scheduler(optimizer, name, **options)["scheduler"]
    rates = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's deprecation notes
        for _ in range(epochs):
            rates.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    return rates


def test_bot_schedule_warms_up_from_a_tenth_then_steps():
    rates = learning_rates("warmup_multistep", 75, warmup_epochs=10, warmup_factor=0.1, milestones=[40, 70], gamma=0.1)
    assert rates[:10] == pytest.approx([0.1 * t for t in range(1, 11)])  # BoT's paper: base * t / 10, t = 1..10
    assert rates[10:40] == pytest.approx([1.0] * 30) and rates[40:70] == pytest.approx([0.1] * 30)
    assert rates[70:] == pytest.approx([0.01] * 5)


def test_sbs_schedule_holds_then_decays_by_cosine():
    rates = learning_rates(
        "warmup_cosine", 61, warmup_epochs=10, warmup_factor=0.1, delay_epochs=30, max_epochs=60, min_lr=0.0
    )
    assert rates[0] == pytest.approx(0.1) and rates[5] == pytest.approx(0.55)  # linear from 0.1 to 1 at epoch 10
    assert rates[10:31] == pytest.approx([1.0] * 21)  # DELAY_EPOCHS 30
    assert rates[45] == pytest.approx(0.5) and rates[60] == pytest.approx(0.0, abs=1e-12)  # cosine over 30 epochs
    assert learning_rates(
        "warmup_cosine", 4, warmup_epochs=2, max_epochs=4, min_lr=0.0, warmup_factor=0.01, delay_epochs=0
    ) == pytest.approx([0.01, 0.505, 1.0, 0.5])  # the default recipe, as before


def test_non_local_blocks_sit_where_agw_puts_them_and_start_as_identities():
    plain = create_backbone("resnet50", last_stride=1).eval()
    model = create_backbone("resnet50", last_stride=1, non_local=True).eval()
    names = [n for n, m in model.named_modules() if isinstance(m, NonLocal)]
    assert (
        names
        == [
            "layer2.non_local_2",
            "layer2.non_local_3",
            "layer3.non_local_3",
            "layer3.non_local_4",
            "layer3.non_local_5",
        ]
        == list(model.fresh_modules)
    )
    assert model.layer2.non_local_2.g.out_channels == 1  # AGW's / fast-reid's reduc_ratio // reduc_ratio
    model.load_state_dict(plain.state_dict(), strict=False)
    x = torch.randn(1, 3, 64, 32)
    with torch.no_grad():
        assert torch.allclose(model(x), plain(x), atol=1e-5)  # zero-initialised BN: the blocks add nothing yet
        assert model(x).shape == (1, 2048, 4, 2)  # last stride 1: stride 16


def test_resnet50_options_still_load_timms_imagenet_layout(tmp_path):
    state = timm.create_model("resnet50").state_dict()  # timm's ImageNet key layout (fc included), random values
    torch.save(state, tmp_path / "resnet50_timm.pth")
    for options in ({"last_stride": 1}, {"last_stride": 1, "non_local": True}):
        model = create_backbone("resnet50", pretrained=str(tmp_path / "resnet50_timm.pth"), **options)
        loaded = model.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in state.items() if not k.startswith("fc."))
    with pytest.raises(ValueError, match="backbone keys missing from the file: layer1.0.bn1.IN.weight"):
        create_backbone("resnet50", pretrained=str(tmp_path / "resnet50_timm.pth"), ibn=True)


def test_a_timm_backbones_output_stride_passes_through():
    model = create_backbone("timm:resnet18", output_stride=16).eval()  # timm's dilated stride, no code of ours
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 64, 32)).shape == (1, 512, 4, 2)


def test_ibn_a_loads_ibn_nets_key_layout(tmp_path):
    model = create_backbone("resnet50", ibn=True)
    assert isinstance(model.layer3[5].bn1, IBN) and not isinstance(model.layer4[0].bn1, IBN)
    assert model.layer1[0].bn1.IN.num_features == 32 and model.layer1[0].bn1.BN.num_features == 32
    ibn_net = {k: torch.randn_like(v) if v.is_floating_point() else v for k, v in model.state_dict().items()}
    ibn_net |= {"fc.weight": torch.zeros(1000, 2048), "fc.bias": torch.zeros(1000)}  # IBN-Net's ImageNet head
    torch.save(ibn_net, tmp_path / "resnet50_ibn_a.pth")
    loaded = create_backbone("resnet50", ibn=True, pretrained=str(tmp_path / "resnet50_ibn_a.pth")).state_dict()
    assert torch.equal(loaded["layer2.1.bn1.IN.weight"], ibn_net["layer2.1.bn1.IN.weight"])
    with pytest.raises(ValueError, match="ibn=true has no hub weights"):
        create_backbone("resnet50", ibn=True, pretrained=True)


def test_presets_carry_the_published_settings():
    bot, agw, sbs = (preset(f"experiment={name}") for name in ("bot_r50", "agw_r50", "sbs_r50"))
    for cfg in (bot, agw, sbs):
        assert cfg.backbone.name == "resnet50" and cfg.backbone.last_stride == 1 and cfg.classifier.bnneck
        assert (cfg.data.batch_size, cfg.data.sampler, cfg.data.augment.random_erasing) == (64, "identity", 0.5)
        assert (cfg.optimizer.name, cfg.optimizer.lr, cfg.optimizer.weight_decay) == ("adam", 3.5e-4, 5e-4)
        assert cfg.evaluation.normalize and cfg.data.name == "market1501"
    assert (bot.data.height, bot.data.width, bot.data.num_instances, bot.trainer.max_epochs) == (256, 128, 4, 120)
    assert not bot.backbone.non_local and bot.partition.pooling == "avg" and bot.loss.triplet_weight == 1.0
    assert OmegaConf.to_container(bot.loss.terms) == {"center": {"weight": 5e-4, "lr": 0.5}}
    assert OmegaConf.to_container(bot.scheduler, resolve=True) == {
        "name": "warmup_multistep",
        "warmup_epochs": 10,
        "warmup_factor": 0.1,
        "milestones": [40, 70],
        "gamma": 0.1,
    }
    assert agw.backbone.non_local and agw.partition.pooling == "gem" and agw.trainer.max_epochs == 160
    assert set(agw.loss.terms) == {"weighted_triplet", "center"} and agw.loss.triplet_weight == 0
    assert (sbs.data.height, sbs.data.num_instances, sbs.trainer.max_epochs) == (384, 16, 60)
    assert (sbs.classifier.logits, sbs.classifier.scale, sbs.classifier.margin) == ("circle", 64.0, 0.35)
    assert sbs.loss.metric_feature == "after" and sbs.loss.terms.triplet.margin == 0.0
    assert (sbs.scheduler.delay_epochs, sbs.scheduler.warmup_factor) == (30, 0.1)
    assert sbs.callbacks.freeze_backbone.epochs == 5


def test_a_shorter_budget_scales_the_schedules_epochs():
    bot, sbs = (preset(f"experiment={name}", "trainer.max_epochs=12") for name in ("bot_r50", "sbs_r50"))
    assert (bot.scheduler.warmup_epochs, list(bot.scheduler.milestones)) == (1, [4, 7])  # 10, 40, 70 of 120
    assert (sbs.scheduler.warmup_epochs, sbs.scheduler.delay_epochs, sbs.scheduler.max_epochs) == (2, 6, 12)
    assert sbs.callbacks.freeze_backbone.epochs == 1  # 5 of 60


@pytest.mark.parametrize(
    ("overrides", "partition", "classifier"),
    [
        (["experiment=bot_r50"], "global", "shared"),
        (["experiment=agw_r50", "partition=stripes"], "stripes", "shared"),
        (["experiment=sbs_r50", "head=stripes_individual"], "stripes", "individual"),
        (["experiment=agw_r50", "partition=gaussian_mask", "classifier=individual"], "gaussian_mask", "individual"),
        (["experiment=bot_osnet", "backbone.width=0.25"], "global", "shared"),
    ],
)
def test_presets_compose_with_the_thesis_heads_and_train_a_step(overrides, partition, classifier):
    cfg = preset(*overrides, *SMALL)
    assert (cfg.partition.name, cfg.classifier.name) == (partition, classifier)
    plain = {key: OmegaConf.to_container(cfg[key], resolve=True) for key in ("optimizer", "loss")}
    scheduler = OmegaConf.to_container(cfg.scheduler, resolve=True)
    torch.manual_seed(0)
    model = ReIDModule(
        **model_config(cfg), num_classes=4, optimizer=plain["optimizer"], scheduler=scheduler, loss=plain["loss"]
    )
    images, labels = torch.randn(8, 3, 64, 32), torch.arange(4).repeat_interleave(2)  # P x K = 4 x 2
    part_maps = torch.randint(0, 7, (8, 64, 32)) if model.requires_part_maps else None
    optimizer = model.configure_optimizers()["optimizer"]
    before = [p.detach().clone() for p in model.parameters()]
    model.log = lambda *args, **kwargs: None  # no trainer attached
    loss = model.training_step({"image": images, "pid": labels, "part_map": part_maps}, 0)
    assert torch.isfinite(loss)
    loss.backward()
    model.on_before_optimizer_step(optimizer)
    optimizer.step()
    changed = [not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True)]
    assert sum(changed) > len(changed) // 2  # the step moved the network
    running = model.classifier.bnneck.num_batches_tracked.item()
    assert running == 1  # the BNNeck ran once, though SBS's triplet also takes its output
    centers = getattr(model.metric_losses, "center", None)
    if centers is not None:  # BoT / AGW: the centres moved by their own SGD step, not by Adam
        assert all(p is not centers.centers for group in optimizer.param_groups for p in group["params"])
        assert centers.centers.grad is None


@pytest.mark.slow
def test_a_preset_runs_end_to_end_on_the_tiny_set(tmp_path):
    paths = [f"paths.log_dir={tmp_path / 'logs'}", f"paths.data_dir={tmp_path / 'data'}"]
    proc = run_entry_point(
        "train.py",
        "experiment=agw_r50",
        "partition=stripes",
        "data=synthetic_tiny",
        "debug=fast_dev_run",
        "trainer=cpu",
        "data.batch_size=8",
        "data.num_instances=2",
        *SMALL,
        *paths,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
