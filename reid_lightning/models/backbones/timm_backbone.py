"""timm models as backbones: ResNet-50, MobileNetV2 and, as a fallback, any timm model name.

A timm model created with `num_classes=0, global_pool=""` already is a backbone of our contract: its
forward returns the last feature map (B, num_features, h, w). ImageNet weights come from the hub
(`pretrained=True`, needs network) or from a local file. `last_stride=1` removes the last
down-sampling (PCB's trick, twice the output resolution) in the families where it is one stride:
ResNets (the first block of layer4) and EfficientNet-style models such as MobileNetV2 (the first
block of the last strided stage).
"""

import torch
from timm import create_model
from timm.models import EfficientNet, ResNet
from torch import nn

from reid_lightning.data.market_layout import MARKET_IMAGE_SIZE
from reid_lightning.models.backbones.backbone_registry import BACKBONES
from reid_lightning.models.backbones.resnet_options import add_ibn_a, add_non_local

NO_NETWORK = (
    "no network access to the weights hub ({error}); download the weights elsewhere and pass "
    "backbone.pretrained=/path/to/file (.pth or .safetensors)"
)


def remove_last_stride(model: nn.Module, name: str) -> None:
    """Set the last stride-2 down-sampling of a timm ResNet or EfficientNet-style model to stride 1."""
    if isinstance(model, ResNet):
        block = model.layer4[0]
    elif isinstance(model, EfficientNet):
        strided = [
            b
            for stage in model.blocks
            for b in stage
            if any(getattr(m, "stride", None) in (2, (2, 2)) for m in b.modules())
        ]
        block = strided[-1]
    else:
        raise ValueError(
            f"backbone {name!r}: last_stride=1 is supported for timm ResNets and "
            "EfficientNet-style models (resnet50, mobilenetv2) and our dcti, not for this "
            "architecture; drop last_stride"
        )
    for m in block.modules():
        if isinstance(m, nn.Conv2d) and m.stride == (2, 2):
            m.stride = (1, 1)
        elif isinstance(m, nn.AvgPool2d) and m.stride in (2, (2, 2)):  # avg-down shortcuts ("d" variants)
            m.stride, m.kernel_size = 1, 1


def check_feature_map(model: nn.Module, name: str) -> None:
    """Fail early when a timm model does not return a (B, num_features, h, w) feature map."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, 3, *MARKET_IMAGE_SIZE))
    except Exception as err:
        raise ValueError(
            f"timm model {name!r} cannot run on a 128x64 image ({type(err).__name__}: {err}); "
            "use a convolutional timm model"
        ) from err
    finally:
        model.train(was_training)
    if out.ndim != 4 or out.shape[1] != model.num_features:
        raise ValueError(
            f"timm model {name!r} returns {tuple(out.shape)}, not a "
            f"(B, {model.num_features}, h, w) feature map; use a convolutional timm model"
        )


def create_timm_backbone(
    name: str, pretrained: bool = False, last_stride: int | None = None, check: bool = True, **kwargs
) -> nn.Module:
    """timm model `name` without pooling and classifier; `pretrained=True` downloads from the hub."""
    try:
        model = create_model(name, pretrained=pretrained, num_classes=0, global_pool="", **kwargs)
    except Exception as err:
        if not pretrained:
            raise
        raise RuntimeError(
            f"could not download pretrained weights of timm model {name!r}: "
            + NO_NETWORK.format(error=f"{type(err).__name__}: {err}")
        ) from err
    if last_stride not in (None, 2):
        if last_stride != 1:
            raise ValueError(f"backbone {name!r}: last_stride must be 1 or 2, got {last_stride}")
        remove_last_stride(model, name)
    if check:
        check_feature_map(model, name)
    return model


@BACKBONES.register("mobilenetv2")
def mobilenetv2(pretrained: bool = False, last_stride: int | None = None, **timm_options) -> nn.Module:
    """MobileNetV2 x1.0: timm's mobilenetv2_100."""
    return create_timm_backbone("mobilenetv2_100", pretrained, last_stride, check=False, **timm_options)


@BACKBONES.register("resnet50")
def resnet50(
    pretrained: bool = False,
    last_stride: int | None = None,
    non_local: bool = False,
    non_local_channels: int = 1,
    ibn: bool = False,
    **timm_options,
) -> nn.Module:
    """ResNet-50: timm's resnet50; `non_local` adds AGW's non-local blocks to layer2/layer3, `ibn` makes it
    IBN-a (resnet_options.py)."""
    if ibn and pretrained:
        raise ValueError(
            "backbone=resnet50 with ibn=true has no hub weights (timm's plain ResNet-50 lacks the "
            "InstanceNorm halves): pass IBN-Net's ImageNet file, backbone.pretrained=/path/to/"
            "resnet50_ibn_a-d9d0bb7b.pth, or set ibn=false"
        )
    model = create_timm_backbone("resnet50", pretrained, last_stride, check=False, **timm_options)
    if ibn:
        add_ibn_a(model)
    if non_local:
        if non_local_channels < 1:
            raise ValueError(f"backbone.non_local_channels={non_local_channels}; use >= 1 (AGW's code: 1)")
        model.fresh_modules = tuple(add_non_local(model, non_local_channels))  # not in ImageNet files
    return model
