"""Backbone registry: every conf/backbone preset builds, trains a step and keeps the feature-map contract;
exact parameter counts; options (width, last_stride, norm); timm fallback; pretrained weights handling."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf
from safetensors.torch import save_file
from torch import nn

from reid_lightning.analysis.complexity import count_parameters
from reid_lightning.models.backbones import create_backbone, list_backbones
from reid_lightning.models.neck import PartNeck

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


CONF = Path(__file__).resolve().parents[1] / "conf" / "backbone"
# One preset per registered backbone; variants built on one (`defaults: [resnet50]`: resnet50_ls1, resnet50_nl) are
# tested with the baselines that use them (tests/test_baselines.py).
PRESETS = sorted(p.stem for p in CONF.glob("*.yaml") if "defaults" not in OmegaConf.load(p))
REDUCTION = {"osnet": 16, "dcti": 16, "nasnet": 32, "mobilenetv2": 32, "resnet50": 32}  # input / feature map


def preset(name: str) -> dict:
    """create_backbone kwargs of a preset; `neck_dim` belongs to the head (run.model_config pops it too)."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / f"{name}.yaml"))
    cfg.pop("neck_dim", None)
    return cfg


def test_osnet_preset_puts_the_paper_fc_in_the_head():
    from reid_lightning.run.build import neck_width

    assert neck_width("paper", "osnet") == 512  # neck_dim=paper: the fc of the backbone's paper


def test_every_backbone_has_a_preset():
    assert PRESETS == sorted(list_backbones())
    assert list_backbones()[:3] == ["osnet", "nasnet", "dcti"]  # our own first


@pytest.mark.parametrize("size", [(128, 64), (256, 128)], ids=["128x64", "256x128"])
@pytest.mark.parametrize("name", PRESETS)
def test_preset_forward_backward(name, size):
    torch.manual_seed(0)
    model = create_backbone(**preset(name))
    images = torch.randn(2, 3, *size)
    out = model(images)
    h, w = size[0] // REDUCTION[name], size[1] // REDUCTION[name]
    assert out.shape == (2, model.num_features, h, w)
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("nasnet", 4_232_978),  # NASNet-A mobile without classifier (thesis Table 4.3)
        ("mobilenetv2", 2_223_872),  # timm mobilenetv2_100 without classifier
        ("resnet50", 23_508_032),  # + 2048*751 + 751 classifier = 25,046,831 (Table 4.3)
        ("dcti", 7_637_184),  # + 512*751 + 751 classifier = 8,022,447 (Table 4.3)
    ],
)
def test_exact_parameter_counts(name, params):
    assert count_parameters(create_backbone(name)) == params


def test_thesis_counts_with_classifier():
    assert count_parameters(create_backbone("resnet50")) + 2048 * 751 + 751 == 25_046_831
    assert count_parameters(create_backbone("dcti")) + 512 * 751 + 751 == 8_022_447


def test_osnet_with_shared_neck_is_the_paper_network():
    """2,169,508 distinct parameters; Table 4.3's 2,193,616 counts the aggregation gate once per stream
    call (see test_complexity), 3 extra times in each of the 6 blocks: 3 * 8,036 = 24,108."""
    total = count_parameters(create_backbone("osnet")) + count_parameters(PartNeck(512, 512))
    assert total == 2_169_508
    assert total + 24_108 == 2_193_616


@pytest.mark.parametrize(
    ("width", "channels"), [(0.75, (48, 192, 288, 384)), (0.5, (32, 128, 192, 256)), (0.25, (16, 64, 96, 128))]
)
def test_osnet_width(width, channels):
    model = create_backbone("osnet", width=width)
    stem = model.conv1[0].out_channels
    stages = [model.conv2[0].expand[0].out_channels, model.conv3[0].expand[0].out_channels, model.num_features]
    assert (stem, *stages) == channels
    assert model(torch.zeros(2, 3, 128, 64)).shape == (2, channels[-1], 8, 4)


@pytest.mark.parametrize(("name", "stride1_size"), [("resnet50", (8, 4)), ("mobilenetv2", (8, 4)), ("dcti", (16, 8))])
def test_last_stride_doubles_the_feature_map(name, stride1_size):
    model = create_backbone(name, last_stride=1)
    assert model(torch.zeros(1, 3, 128, 64)).shape[-2:] == stride1_size
    assert count_parameters(model) == count_parameters(create_backbone(name))


@pytest.mark.parametrize("name", ["osnet", "nasnet", "regnetx_002"])
def test_last_stride_refused_where_unsupported(name):
    with pytest.raises(ValueError, match="last.stride"):
        create_backbone(name, last_stride=1)
    create_backbone(name, last_stride=2)  # the default is always fine


def test_channels_last_is_a_layout_not_a_different_network():
    torch.manual_seed(0)
    nhwc = create_backbone("osnet", width=0.25).eval()
    nchw = create_backbone("osnet", width=0.25, channels_last=False).eval()
    nchw.load_state_dict(nhwc.state_dict())
    assert nhwc.conv1[0].weight.is_contiguous(memory_format=torch.channels_last)
    assert nchw.conv1[0].weight.is_contiguous()
    images = torch.randn(2, 3, 64, 32)
    with torch.no_grad():
        assert torch.allclose(nhwc(images), nchw(images), atol=1e-5)


def test_dcti_paper_layout():
    model = create_backbone("dcti", norm="conv", dropout=True)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert len(convs) == len(bns) == 10 and all(c.bias is None for c in convs)
    dropouts = sum(isinstance(m, nn.Dropout) for m in model.modules())
    assert dropouts == 9 + 4  # after the 9 convs and 4 pools of phases 1-4
    with pytest.raises(ValueError, match="norm"):
        create_backbone("dcti", norm="layer")


def test_timm_fallback_and_prefix():
    model = create_backbone("resnet18")
    assert model.num_features == 512 and model(torch.zeros(1, 3, 128, 64)).shape == (1, 512, 4, 2)
    assert create_backbone("timm:mobilenetv2_100").num_features == 1280


def test_timm_model_without_feature_map_is_refused():
    with pytest.raises(ValueError, match="vit_tiny_patch16_224"):
        create_backbone("vit_tiny_patch16_224")


def test_unknown_name_lists_ours_and_suggests():
    with pytest.raises(ValueError) as err:
        create_backbone("osnett")
    message = str(err.value)
    assert all(n in message for n in list_backbones())
    assert "timm" in message and "close matches: osnet" in message


def test_unknown_option_is_named():
    with pytest.raises(ValueError, match="no option.*depth.*width"):
        create_backbone("osnet", depth=3)


# --- pretrained weights -------------------------------------------------------------------------------


def test_pretrained_true_on_our_model_asks_for_a_file():
    with pytest.raises(ValueError, match="pretrained=/path/to/nasnet.pth"):
        create_backbone("nasnet", pretrained=True)


def test_hub_failure_explains_offline_use(monkeypatch):
    import reid_lightning.models.backbones.timm_backbone as timm_backbone

    def offline(*args, pretrained=False, **kwargs):
        raise OSError("Name or service not known")

    monkeypatch.setattr(timm_backbone, "create_model", offline)
    with pytest.raises(RuntimeError, match=r"no network access.*backbone.pretrained=/path/to/file"):
        create_backbone("resnet50", pretrained=True)


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_local_weights_load_and_ignore_classifier(tmp_path, suffix):
    torch.manual_seed(0)
    source = create_backbone("osnet", width=0.25)
    head = {"classifier.weight": torch.zeros(751, 128), "fc.0.weight": torch.zeros(4, 4)}  # Torchreid keys
    state = {**source.state_dict(), **head}
    path = tmp_path / f"osnet{suffix}"
    if suffix == ".pth":
        torch.save({"state_dict": state}, path)
    else:
        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    torch.manual_seed(1)
    loaded = create_backbone("osnet", width=0.25, pretrained=str(path))
    for key, value in source.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_local_weights_for_timm_model_and_lightning_checkpoint(tmp_path):
    source = create_backbone("resnet18")
    torch.save(
        {**source.state_dict(), "fc.weight": torch.zeros(1000, 512), "fc.bias": torch.zeros(1000)}, tmp_path / "r18.pth"
    )
    loaded = create_backbone("resnet18", pretrained=tmp_path / "r18.pth")
    assert torch.equal(loaded.conv1.weight, source.conv1.weight)
    module_state = {f"backbone.{k}": v for k, v in source.state_dict().items()}
    ckpt = {"state_dict": {**module_state, "head.x": torch.zeros(1)}}
    torch.save(ckpt, tmp_path / "last.ckpt")
    from_ckpt = create_backbone("resnet18", pretrained=str(tmp_path / "last.ckpt"))
    assert torch.equal(from_ckpt.conv1.weight, source.conv1.weight)


def test_wrong_weights_name_the_file(tmp_path):
    torch.save(create_backbone("osnet", width=0.5).state_dict(), tmp_path / "half.pth")
    with pytest.raises(ValueError, match=r"half.pth do not fit.*shape mismatches: conv1.0.weight"):
        create_backbone("osnet", width=0.25, pretrained=str(tmp_path / "half.pth"))
    torch.save({"something.else": torch.zeros(3)}, tmp_path / "other.pth")
    with pytest.raises(ValueError, match=r"other.pth do not fit.*missing.*unexpected keys: something.else"):
        create_backbone("dcti", pretrained=str(tmp_path / "other.pth"))
    (tmp_path / "notes.txt").write_text("not weights")
    with pytest.raises(ValueError, match="could not read pretrained weights .*notes.txt"):
        create_backbone("dcti", pretrained=str(tmp_path / "notes.txt"))
    with pytest.raises(FileNotFoundError, match="missing.pth does not exist"):
        create_backbone("dcti", pretrained=str(tmp_path / "missing.pth"))
