"""Torchreid's weights files load into our OSNet (every width) and NASNet and compute Torchreid's feature map.

The independent source is tests/fixtures/torchreid_layouts.json.gz, written by scripts/make_torchreid_fixture.py
from Torchreid's own model code: the exact keys and shapes of Torchreid's networks and their outputs on
synthetic images with synthetic weights (tests/torchreid_reference.py). Here the same synthetic weights, in
Torchreid's key names, go through `backbone.pretrained=<file>` into our implementation, which must give the
same outputs; every Torchreid key must map onto exactly one of ours (the head's keys dropped and logged).
"""

import gzip
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from reid_lightning.models.backbones import create_backbone
from reid_lightning.models.backbones.torchreid_layout import TORCHREID_NASNET, TORCHREID_OSNET
from tests.torchreid_reference import FIXTURE_NAME, project, synthetic_images, synthetic_state

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py

FIXTURE = json.loads(gzip.decompress((Path(__file__).parent / "fixtures" / FIXTURE_NAME).read_bytes()))["models"]
MODELS = sorted(FIXTURE)  # osnet_x1_0, osnet_x0_75, osnet_x0_5, osnet_x0_25, nasnetamobile
LAYOUT = {"osnet": TORCHREID_OSNET, "nasnet": TORCHREID_NASNET}
HEAD_KEYS = {  # what Torchreid's networks have beyond our backbone (read in torchreid/models/{osnet,nasnet}.py)
    "osnet": [
        "fc.0.weight",
        "fc.0.bias",
        "fc.1.weight",
        "fc.1.bias",
        "fc.1.running_mean",
        "fc.1.running_var",
        "fc.1.num_batches_tracked",
        "classifier.weight",
        "classifier.bias",
    ],
    "nasnet": ["classifier.weight", "classifier.bias"],
}


def torchreid_state(model: str, num_classes: int = 1000) -> dict[str, torch.Tensor]:
    """The synthetic weights of `model` in Torchreid's key names, with a classifier for `num_classes`."""
    state = synthetic_state([(k, shape) for k, shape in FIXTURE[model]["state"].items()])
    state["classifier.weight"] = torch.zeros(num_classes, state["classifier.weight"].shape[1])
    state["classifier.bias"] = torch.zeros(num_classes)
    return state


def build(model: str, weights: Path | None = None) -> torch.nn.Module:
    spec = FIXTURE[model]
    return create_backbone(spec["backbone"], pretrained=str(weights) if weights else False, **spec["options"]).eval()


def assert_torchreids_output(backbone: torch.nn.Module, model: str) -> None:
    with torch.no_grad():
        ours = project(backbone(synthetic_images()))
    reference = torch.tensor(FIXTURE[model]["reference"]).reshape(FIXTURE[model]["reference_shape"])
    scale = reference.abs().max().item()
    assert ours.shape == reference.shape
    assert (ours - reference).abs().max().item() <= 1e-4 * scale, model


@pytest.mark.parametrize("model", MODELS)
def test_torchreid_imagenet_file_gives_torchreids_feature_map(tmp_path, model):
    torch.save(torchreid_state(model), tmp_path / f"{model}_imagenet.pth")  # plain state dict, 1000 classes
    assert_torchreids_output(build(model, tmp_path / f"{model}_imagenet.pth"), model)


@pytest.mark.parametrize("model", ["osnet_x0_25", "nasnetamobile"])
def test_torchreid_zoo_checkpoint_loads_and_logs_the_dropped_head(tmp_path, caplog, model):
    """A model-zoo file: {"state_dict": ...} of a DataParallel model trained on Market-1501 (751 classes),
    beside Torchreid's bookkeeping (numpy rank-1, epoch, optimizer state)."""
    state = {f"module.{k}": v for k, v in torchreid_state(model, num_classes=751).items()}
    checkpoint = {"state_dict": state, "epoch": 150, "rank1": np.float64(0.942), "optimizer": {"state": {}}}
    path = tmp_path / f"{model}_market1501.pth.tar"
    torch.save(checkpoint, path)
    with caplog.at_level(logging.INFO, logger="reid_lightning.models.backbones.weights"):
        backbone = build(model, path)
    assert_torchreids_output(backbone, model)
    backbone_name = FIXTURE[model]["backbone"]
    message = caplog.text
    assert f"Loaded {len(state) - len(HEAD_KEYS[backbone_name])} tensors" in message
    assert "Torchreid" in message and "dropped the original head's keys: " in message
    assert all(key in message for key in HEAD_KEYS[backbone_name][:5])


@pytest.mark.parametrize("model", MODELS)
def test_every_torchreid_key_maps_to_exactly_one_of_ours(model):
    spec = FIXTURE[model]
    layout = LAYOUT[spec["backbone"]]
    torchreid_keys = list(spec["state"])
    head = [k for k in torchreid_keys if k.startswith(layout.head_prefixes)]
    assert head == HEAD_KEYS[spec["backbone"]]
    renamed = {k: layout.rename(k) for k in torchreid_keys if k not in head}
    ours = build(model).state_dict()
    assert None not in renamed.values(), [k for k, v in renamed.items() if v is None]
    assert len(set(renamed.values())) == len(renamed)  # no two Torchreid keys onto one of ours
    assert set(renamed.values()) == set(ours)  # and none of ours left without one
    assert all(list(ours[renamed[k]].shape) == spec["state"][k] for k in renamed)
    assert len(renamed) == {"osnet": 558, "nasnet": 1316}[spec["backbone"]]


@pytest.mark.parametrize(
    "torchreid_key, ours",
    [  # read off both sources by hand
        ("conv1.conv.weight", "conv1.0.weight"),
        ("conv2.0.conv1.bn.running_var", "conv2.0.reduce.1.running_var"),
        ("conv2.0.conv2a.conv2.weight", "conv2.0.streams.0.0.1.weight"),
        ("conv3.1.conv2c.2.bn.bias", "conv3.1.streams.2.2.2.bias"),
        ("conv4.0.conv2d.3.conv1.weight", "conv4.0.streams.3.3.0.weight"),
        ("conv2.1.gate.fc2.bias", "conv2.1.gate.3.bias"),
        ("conv3.0.downsample.bn.weight", "conv3.0.shortcut.1.weight"),
        ("conv4.1.conv3.conv.weight", "conv4.1.expand.0.weight"),
        ("conv3.2.0.bn.running_mean", "conv3.2.1.running_mean"),
        ("conv5.bn.num_batches_tracked", "conv5.1.num_batches_tracked"),
    ],
)
def test_osnet_key_examples(torchreid_key, ours):
    assert TORCHREID_OSNET.rename(torchreid_key) == ours


@pytest.mark.parametrize(
    "torchreid_key, ours",
    [
        ("conv0.bn.running_var", "conv0.1.running_var"),
        ("cell_stem_0.comb_iter_0_right.separable_1.depthwise_conv2d.weight", "stem0.c0_prev.sep1.0.weight"),
        ("cell_stem_1.path_2.conv.weight", "stem1.project_previous.conv2.weight"),
        ("cell_0.final_path_bn.bias", "cells.0.project_previous.bn.bias"),
        ("cell_1.conv_prev_1x1.conv.weight", "cells.1.project_previous.1.weight"),
        ("cell_3.comb_iter_1_left.bn_sep_2.weight", "cells.3.c1_prev_a.bn2.weight"),
        ("reduction_cell_0.comb_iter_4_left.separable_2.pointwise_conv2d.weight", "cells.4.c4_c0.sep2.1.weight"),
        ("cell_9.comb_iter_4_left.bn_sep_1.running_mean", "cells.8.c4_cur.bn1.running_mean"),
        ("reduction_cell_1.conv_1x1.bn.weight", "cells.9.project_current.2.weight"),
        ("cell_15.comb_iter_0_right.separable_2.depthwise_conv2d.weight", "cells.13.c0_prev.sep2.0.weight"),
    ],
)
def test_nasnet_key_examples(torchreid_key, ours):
    assert TORCHREID_NASNET.rename(torchreid_key) == ours


def test_cadene_nasnet_file_with_last_linear_loads(tmp_path):
    """Cadene's pretrainedmodels file (what Torchreid downloads): Torchreid's keys, the classifier named last_linear."""
    state = {k.replace("classifier.", "last_linear."): v for k, v in torchreid_state("nasnetamobile").items()}
    torch.save(state, tmp_path / "nasnetamobile-7e03cead.pth")
    assert_torchreids_output(build("nasnetamobile", tmp_path / "nasnetamobile-7e03cead.pth"), "nasnetamobile")


# --- wrong files ------------------------------------------------------------------------------------------


def test_file_of_another_architecture_names_file_layout_and_fix(tmp_path):
    torch.save(torchreid_state("osnet_x0_25"), tmp_path / "osnet_x0_25_imagenet.pth")
    with pytest.raises(
        ValueError,
        match=r"osnet_x0_25_imagenet.pth look like a Torchreid OSNet file \(osnet_x0_25\)"
        r", which does not fit backbone NASNetAMobile: use backbone=osnet "
        r"backbone.width=0.25",
    ):
        create_backbone("nasnet", pretrained=str(tmp_path / "osnet_x0_25_imagenet.pth"))
    torch.save(torchreid_state("nasnetamobile"), tmp_path / "nasnet.pth")
    with pytest.raises(
        ValueError,
        match=r"nasnet.pth look like a Torchreid/Cadene NASNet-A mobile file "
        r"\(nasnetamobile\).*use backbone=nasnet",
    ):
        create_backbone("osnet", width=0.25, pretrained=str(tmp_path / "nasnet.pth"))


def test_file_of_another_width_names_the_width(tmp_path):
    torch.save(torchreid_state("osnet_x0_5"), tmp_path / "osnet_x0_5_imagenet.pth")
    with pytest.raises(
        ValueError,
        match=r"osnet_x0_5_imagenet.pth do not fit backbone OSNet: .*shape mismatches: "
        r"conv1.0.weight \(file \(32, 3, 7, 7\), model \(64, 3, 7, 7\)\).*looks "
        r"like a Torchreid OSNet file \(osnet_x0_5\): use backbone=osnet "
        r"backbone.width=0.5",
    ):
        create_backbone("osnet", width=1.0, pretrained=str(tmp_path / "osnet_x0_5_imagenet.pth"))


def test_osnet_variants_we_do_not_implement_are_named(tmp_path):
    state = torchreid_state("osnet_x0_25")
    state["conv2.0.IN.weight"] = torch.ones(64)
    torch.save(state, tmp_path / "osnet_ibn_x1_0_imagenet.pth")
    with pytest.raises(ValueError, match=r"osnet_ibn_x1_0_imagenet.pth: the weights look like Torchreid OSNet-IBN"):
        create_backbone("osnet", width=0.25, pretrained=str(tmp_path / "osnet_ibn_x1_0_imagenet.pth"))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"osnet_x1_0_imagenet.pth does not exist"):
        create_backbone("osnet", pretrained=str(tmp_path / "osnet_x1_0_imagenet.pth"))


@pytest.mark.parametrize("name, timm_name", [("mobilenetv2", "mobilenetv2_100"), ("resnet50", "resnet50")])
def test_timm_imagenet_files_still_load(tmp_path, name, timm_name):
    """timm's ImageNet files (its own keys, with the 1000-class classifier) into our timm backbones."""
    torch.manual_seed(0)
    state = timm.create_model(timm_name, pretrained=False).state_dict()
    torch.save(state, tmp_path / f"{timm_name}.pth")
    backbone = create_backbone(name, pretrained=str(tmp_path / f"{timm_name}.pth"))
    for key, value in backbone.state_dict().items():
        assert torch.equal(value, state[key]), key
