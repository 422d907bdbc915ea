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
download source, so pass a file), or a path to a .pth/.safetensors file of the backbone: our own or
timm's key layout, a checkpoint of this suite, or Torchreid's OSNet / NASNet files (weights.py; the
original network's classifier keys are dropped). `last_stride=1` removes the last down-sampling where
the architecture has a single one to remove (dcti, resnet50, mobilenetv2); osnet and nasnet refuse it.
`channels_last=True` (default) stores the convolution weights NHWC, which makes every convolution run
NHWC: on this CPU a training step is 1.3-1.6x faster (bench/backbones.py), and it suits tensor cores.
"""

from pathlib import Path

import timm
import torch
from torch import nn

# Registration order is the listing order (our own first): these imports keep their order.
# isort: off
from reid_lightning.models.backbones import osnet, nasnet, dcti, timm_backbone  # noqa: F401

# isort: on
from reid_lightning.models.backbones.backbone_registry import BACKBONES
from reid_lightning.models.backbones.timm_backbone import create_timm_backbone
from reid_lightning.models.backbones.weights import load_weights


def list_backbones() -> list[str]:
    """Our own backbone names (any timm model name works as well)."""
    return BACKBONES.names()


def create_backbone(name: str, pretrained: bool | str = False, channels_last: bool = True, **options) -> nn.Module:
    """Build backbone `name`; `pretrained` is False, True (hub, timm models only) or a weights file path;
    `options` are the architecture's own (width, last_stride, ...)."""
    model = _build(name, pretrained, **options)
    return model.to(memory_format=torch.channels_last) if channels_last else model


def _build(name: str, pretrained: bool | str, **options) -> nn.Module:
    if not isinstance(pretrained, (bool, str, Path)) and pretrained is not None:
        raise ValueError(f"backbone.pretrained must be false, true or a path to a weights file, got {pretrained!r}")
    weights_file = None if isinstance(pretrained, bool) or pretrained is None else Path(pretrained)
    key = name.lower()
    if key in BACKBONES:
        downloads = "pretrained" in BACKBONES.options(key)  # timm-made: ImageNet weights from the hub
        if pretrained is True and not downloads:
            raise ValueError(
                f"backbone {name!r} is our own implementation and has no download source for "
                f"pretrained weights: pass a local file, backbone.pretrained=/path/to/{key}.pth"
            )
        BACKBONES.check_options(key, options, hint=" (plus pretrained, channels_last)")
        model = BACKBONES.get(key)(**options, **({"pretrained": pretrained is True} if downloads else {}))
    else:
        timm_name = name[len("timm:") :] if key.startswith("timm:") else name
        if not timm.is_model(timm_name):
            raise BACKBONES.unknown(
                name,
                extra_names=timm.list_models(),
                extra_hint=", and any timm model name also works (see timm.list_models())",
            )
        model = create_timm_backbone(timm_name, pretrained=pretrained is True, **options)
    if weights_file is not None:
        load_weights(model, weights_file, classifier_prefixes(model))
    return model


def classifier_prefixes(model: nn.Module) -> tuple[str, ...]:
    """Key prefixes of a weights file that belong to an ImageNet/re-ID classifier (ignored on loading)."""
    if hasattr(model, "classifier_prefixes"):
        return tuple(model.classifier_prefixes)
    classifier = getattr(model, "pretrained_cfg", {}).get("classifier") or "classifier"
    prefixes = classifier if isinstance(classifier, tuple | list) else (classifier,)
    return tuple(f"{p}." for p in prefixes)
