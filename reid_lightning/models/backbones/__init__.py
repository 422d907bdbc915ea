"""The backbone registry: `create_backbone(name, pretrained=False, **options)` -> feature extractor.

Every backbone maps images (B, 3, H, W) to a feature map (B, C, h, w) and has `num_features == C`.
Our own names come first; any other name that timm knows is created by timm (without pooling and
classifier), so `backbone.name=convnext_tiny` works too ("timm:" forces timm for a name we own).

    name          what                                               options
    osnet         OSNet x1.0 (Zhou et al. 2019), ours                width (1.0, 0.75, 0.5, 0.25)
    nasnet        NASNet-A mobile 4 @ 1056 (Zoph et al. 2018), ours  -
    dcti          DCTI (Truong et al. 2018) as the thesis ran it     norm, dropout, last_stride
    mobilenetv2   MobileNetV2 x1.0, timm's mobilenetv2_100           last_stride, timm kwargs
    resnet50      ResNet-50, timm's resnet50                         last_stride, timm kwargs

`pretrained`: False (from scratch), True (timm models: download from the hub; our own models have no
download source, so pass a file), or a path to a .pth/.safetensors file of the backbone (classifier
keys in it are ignored). `last_stride=1` removes the last down-sampling where the architecture has
a single one to remove (dcti, resnet50, mobilenetv2); osnet and nasnet refuse it.
`channels_last=True` (default) stores the convolution weights NHWC, which makes every convolution run
NHWC: on this CPU a training step is 1.3-1.6x faster (bench/backbones.py), and it suits tensor cores.
"""

import difflib
import inspect
from collections.abc import Callable
from pathlib import Path

import timm
import torch
from torch import nn

from reid_lightning.models.backbones.dcti import DCTI
from reid_lightning.models.backbones.nasnet import NASNetAMobile
from reid_lightning.models.backbones.osnet import OSNet
from reid_lightning.models.backbones.timm_backbone import create_timm_backbone
from reid_lightning.models.backbones.weights import load_weights

OWN: dict[str, Callable[..., nn.Module]] = {"osnet": OSNet, "nasnet": NASNetAMobile, "dcti": DCTI}
TIMM_NAMES = {"mobilenetv2": "mobilenetv2_100", "resnet50": "resnet50"}  # our name -> timm name


def list_backbones() -> list[str]:
    """Our own backbone names (any timm model name works as well)."""
    return [*OWN, *TIMM_NAMES]


def _unknown(name: str) -> ValueError:
    close = difflib.get_close_matches(name, list_backbones() + timm.list_models(), n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return ValueError(f"unknown backbone {name!r}: ours are {', '.join(list_backbones())}, and any timm "
                      f"model name also works (see timm.list_models()){hint}")


def _check_options(name: str, builder: Callable[..., nn.Module], options: dict) -> None:
    accepted = set(inspect.signature(builder).parameters)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ValueError(f"backbone {name!r} has no option(s) {', '.join(unknown)}; its options are: "
                         f"{', '.join(sorted(accepted))} (plus pretrained, channels_last)")


def create_backbone(name: str, pretrained: bool | str = False, channels_last: bool = True,
                    **options) -> nn.Module:
    """Build backbone `name`; `pretrained` is False, True (hub, timm models only) or a weights file path;
    `options` are the architecture's own (width, last_stride, ...)."""
    model = _build(name, pretrained, **options)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def _build(name: str, pretrained: bool | str, **options) -> nn.Module:
    if not isinstance(pretrained, (bool, str, Path)) and pretrained is not None:
        raise ValueError("backbone.pretrained must be false, true or a path to a weights file, "
                         f"got {pretrained!r}")
    weights_file = None if isinstance(pretrained, bool) or pretrained is None else Path(pretrained)
    key = name.lower()
    if key.startswith("timm:"):
        key = name[len("timm:"):]
    elif key in OWN:
        if pretrained is True:
            raise ValueError(f"backbone {name!r} is our own implementation and has no download source for "
                             f"pretrained weights: pass a local file, backbone.pretrained=/path/to/{key}.pth")
        builder = OWN[key]
        _check_options(name, builder, options)
        model = builder(**options)
        if weights_file is not None:
            load_weights(model, weights_file, builder.classifier_prefixes)
        return model
    timm_name = TIMM_NAMES.get(key, key)
    if not timm.is_model(timm_name):
        raise _unknown(name)
    model = create_timm_backbone(timm_name, pretrained=pretrained is True, check=key not in TIMM_NAMES,
                                 **options)
    if weights_file is not None:
        classifier = model.pretrained_cfg.get("classifier") or "classifier"
        prefixes = classifier if isinstance(classifier, tuple | list) else (classifier,)
        load_weights(model, weights_file, tuple(f"{p}." for p in prefixes))
    return model
