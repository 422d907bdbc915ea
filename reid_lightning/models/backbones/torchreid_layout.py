"""Torchreid's key layouts of our own backbones: recognise a Torchreid weights file and rename its keys to ours.

Torchreid (KaiyangZhou/deep-person-reid) publishes ImageNet and re-ID ("model zoo") weights for OSNet
x1.0 / x0.75 / x0.5 / x0.25 (`osnet_x1_0`, ...) and loads Cadene's pretrainedmodels file for NASNet-A mobile
(`nasnetamobile`). Our implementations (osnet.py, nasnet.py) compute the same functions layer for layer but
name their modules differently, so a file in Torchreid's layout is recognised by a key only that layout has
and its keys are renamed by the rules below (regular expressions over the whole key; a named group whose
name has a lookup table is translated through it). Zoo files wrapped as {"state_dict": ...} with
DataParallel "module." prefixes are unwrapped before (weights.py).

OSNet (Torchreid `osnet_x*`): 567 keys at every width = 558 backbone keys, each renamed, plus 9 head keys
dropped: `fc.0` Linear(512w, 512) and `fc.1` BatchNorm1d (7 keys) and `classifier` (2 keys; 1000 ImageNet
classes or the zoo's dataset identities). Our OSNet ends at conv5; the paper's 512-d fc is the head's
`PartNeck` (neck_dim), which starts untrained, and the classifier is the suite's own.

    Torchreid                                    ours
    conv1.conv / conv1.bn                        conv1.0 / conv1.1               (same for conv5)
    conv{2,3}.2.0.conv / .bn  (transition)       conv{2,3}.2.0 / conv{2,3}.2.1
    conv{2,3,4}.{0,1}.conv1.conv / .bn           <block>.reduce.0 / .1
    <block>.conv3.*, <block>.downsample.*        <block>.expand.*, <block>.shortcut.*  (conv -> 0, bn -> 1)
    <block>.gate.fc1 / fc2                       <block>.gate.1 / gate.3
    <block>.conv2a.{conv1,conv2,bn}              <block>.streams.0.0.{0,1,2}
    <block>.conv2{b,c,d}.i.{conv1,conv2,bn}      <block>.streams.{1,2,3}.i.{0,1,2}
    fc.*, classifier.*                           dropped (logged)

NASNet-A mobile (Torchreid `nasnetamobile`, the same keys as Cadene's `nasnetamobile` file, whose classifier
is `last_linear`): 1318 keys = 1316 backbone keys, each renamed, plus the 2 classifier keys dropped.

    Torchreid / Cadene                           ours
    conv0.conv / conv0.bn                        conv0.0 / conv0.1
    cell_stem_0, cell_stem_1                     stem0, stem1
    cell_0..3, reduction_cell_0, cell_6..9,      cells.0..3, cells.4, cells.5..8,
    reduction_cell_1, cell_12..15                cells.9, cells.10..13
    <cell>.conv_1x1.{conv,bn}                    <cell>.project_current.{1,2}
    <cell>.conv_prev_1x1.{conv,bn}               <cell>.project_previous.{1,2}
    <cell>.path_1.conv / path_2.conv / final_path_bn   <cell>.project_previous.conv1 / conv2 / bn
    reduction comb_iter_{0_left,0_right,1_right,2_right,4_left}   c0_cur, c0_prev, c1_prev, c2_prev, c4_c0
    normal comb_iter_{0_left,0_right,1_left,1_right,4_left}       c0_cur, c0_prev, c1_prev_a, c1_prev_b, c4_cur
    <branch>.separable_{1,2}.{depthwise,pointwise}_conv2d   <branch>.sep{1,2}.{0,1}
    <branch>.bn_sep_{1,2}                        <branch>.bn{1,2}
    classifier.*, last_linear.*                  dropped (logged)

Preprocessing is not in the file: Torchreid trains and tests every model with ImageNet mean/std, which is
ours; Cadene's NASNet ImageNet weights were trained with mean = std = 0.5. Torchreid's OSNet-IBN and
OSNet-AIN files are recognised and refused (this suite implements neither).
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from reid_lightning.models.backbones.nasnet import NASNetAMobile
from reid_lightning.models.backbones.osnet import OSNet

Rule = tuple[str, str]  # (regular expression over a whole Torchreid key, format template of our key)
Variant = Callable[[Mapping[str, torch.Tensor]], tuple[str, dict[str, float]]]  # file -> (model name, our options)


@dataclass(frozen=True)
class KeyLayout:
    """A foreign key layout of one of our architectures, with the rules renaming its keys to ours."""

    name: str  # what the file looks like, for messages: "Torchreid OSNet"
    architecture: type[nn.Module]  # our implementation it maps onto
    backbone: str  # our config name: the fix when the file is loaded into another backbone
    signature: str  # a key every file of this layout has and none of ours does
    rules: tuple[Rule, ...]
    lookups: Mapping[str, Mapping[str, str | int]]  # named regex group -> translation of its text
    head_prefixes: tuple[str, ...]  # the network's head (fc, classifier): not part of our backbone, dropped
    variant: Variant  # Torchreid's model name of a file and the backbone options it needs
    _compiled: tuple = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "_compiled", tuple((re.compile(p), t) for p, t in self.rules))

    def rename(self, key: str) -> str | None:
        """Our name of backbone key `key`, or None when no rule knows it."""
        for pattern, template in self._compiled:
            match = pattern.fullmatch(key)
            if match:
                groups = {g: self.lookups.get(g, {}).get(text, text) for g, text in match.groupdict().items()}
                return template.format(**groups)
        return None

    def convert(self, state: Mapping[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
        """(state with our key names, dropped head keys); keys no rule knows keep their name (reported later)."""
        renamed, dropped = {}, []
        for key, value in state.items():
            if key.startswith(self.head_prefixes):
                dropped.append(key)
                continue
            renamed[self.rename(key) or key] = value
        return renamed, dropped


PARAM = r"\.(?P<param>\w+)"  # weight, bias, running_mean, running_var, num_batches_tracked
CONV_BN = {"conv": 0, "bn": 1}  # Torchreid's ConvLayer / Conv1x1 / Conv1x1Linear -> our conv_bn Sequential


def osnet_variant(state: Mapping[str, torch.Tensor]) -> tuple[str, dict[str, float]]:
    """("osnet_x0_5", {"width": 0.5}): conv1 has 64 x width channels."""
    conv1 = state.get("conv1.conv.weight")
    width = conv1.shape[0] / 64 if conv1 is not None else 1.0
    return f"osnet_x{str(width).replace('.', '_')}", {"width": width}


OSNET_BLOCK = r"(?P<block>conv[234]\.[01])"  # Torchreid's and our OSBlock: 2 per stage
TORCHREID_OSNET = KeyLayout(
    name="Torchreid OSNet",
    architecture=OSNet,
    backbone="osnet",
    signature="conv2.0.conv2a.conv1.weight",
    rules=(
        (r"(?P<stage>conv[15])\.(?P<unit>conv|bn)" + PARAM, "{stage}.{unit}.{param}"),
        (r"(?P<stage>conv[23])\.2\.0\.(?P<unit>conv|bn)" + PARAM, "{stage}.2.{unit}.{param}"),  # transition
        (
            OSNET_BLOCK + r"\.(?P<part>conv1|conv3|downsample)\.(?P<unit>conv|bn)" + PARAM,
            "{block}.{part}.{unit}.{param}",
        ),
        (OSNET_BLOCK + r"\.gate\.(?P<gate_fc>fc[12])" + PARAM, "{block}.gate.{gate_fc}.{param}"),
        (OSNET_BLOCK + r"\.conv2a\.(?P<light>conv1|conv2|bn)" + PARAM, "{block}.streams.0.0.{light}.{param}"),
        (
            OSNET_BLOCK + r"\.conv2(?P<stream>[bcd])\.(?P<layer>\d)\.(?P<light>conv1|conv2|bn)" + PARAM,
            "{block}.streams.{stream}.{layer}.{light}.{param}",
        ),
    ),
    lookups={
        "unit": CONV_BN,
        "part": {"conv1": "reduce", "conv3": "expand", "downsample": "shortcut"},
        "gate_fc": {"fc1": 1, "fc2": 3},  # our ChannelGate: pool, conv, ReLU, conv, sigmoid
        "light": {"conv1": 0, "conv2": 1, "bn": 2},  # our LightConv3x3: 1x1 conv, depthwise conv, BN, ReLU
        "stream": {"b": 1, "c": 2, "d": 3},  # conv2a..conv2d = 1..4 stacked LightConv3x3
    },
    head_prefixes=("fc.", "classifier."),
    variant=osnet_variant,
)

TORCHREID_CELLS = (
    "cell_0",
    "cell_1",
    "cell_2",
    "cell_3",
    "reduction_cell_0",
    "cell_6",
    "cell_7",
    "cell_8",
    "cell_9",
    "reduction_cell_1",
    "cell_12",
    "cell_13",
    "cell_14",
    "cell_15",
)  # in the order they run
NASNET_CELLS = {
    "cell_stem_0": "stem0",
    "cell_stem_1": "stem1",
    **{cell: f"cells.{i}" for i, cell in enumerate(TORCHREID_CELLS)},
}
ANY_CELL = r"(?P<cell>cell_stem_[01]|reduction_cell_[01]|cell_\d+)"
REDUCTION_CELL = r"(?P<cell>cell_stem_[01]|reduction_cell_[01])"
NORMAL_CELL = r"(?P<cell>cell_\d+)"
BRANCH = r"(?P<sep>separable_[12])\.(?P<conv>depthwise_conv2d|pointwise_conv2d)" + PARAM
BRANCH_BN = r"(?P<bn>bn_sep_[12])" + PARAM
NASNET_BRANCH_RULES: tuple[Rule, ...] = tuple(
    (cell + rf"\.(?P<{branch}>comb_iter_\d_(?:left|right))\." + inner, "{cell}.{" + branch + "}." + ours)
    for cell, branch in ((REDUCTION_CELL, "reduction_branch"), (NORMAL_CELL, "normal_branch"))
    for inner, ours in ((BRANCH, "{sep}.{conv}.{param}"), (BRANCH_BN, "{bn}.{param}"))
)
TORCHREID_NASNET = KeyLayout(
    name="Torchreid/Cadene NASNet-A mobile",
    architecture=NASNetAMobile,
    backbone="nasnet",
    signature="cell_stem_0.conv_1x1.conv.weight",
    rules=(
        (r"conv0\.(?P<unit>conv|bn)" + PARAM, "conv0.{unit}.{param}"),
        (
            ANY_CELL + r"\.(?P<projection>conv_1x1|conv_prev_1x1)\.(?P<relu_unit>conv|bn)" + PARAM,
            "{cell}.{projection}.{relu_unit}.{param}",
        ),
        (ANY_CELL + r"\.(?P<path>path_1\.conv|path_2\.conv|final_path_bn)" + PARAM, "{cell}.{path}.{param}"),
        *NASNET_BRANCH_RULES,
    ),
    lookups={
        "unit": CONV_BN,
        "cell": NASNET_CELLS,
        "projection": {"conv_1x1": "project_current", "conv_prev_1x1": "project_previous"},
        "relu_unit": {"conv": 1, "bn": 2},  # our relu_conv_bn: ReLU, conv, BN
        "path": {
            "path_1.conv": "project_previous.conv1",
            "path_2.conv": "project_previous.conv2",
            "final_path_bn": "project_previous.bn",
        },  # the factorized reduction of the previous input
        "reduction_branch": {
            "comb_iter_0_left": "c0_cur",
            "comb_iter_0_right": "c0_prev",
            "comb_iter_1_right": "c1_prev",
            "comb_iter_2_right": "c2_prev",
            "comb_iter_4_left": "c4_c0",
        },
        "normal_branch": {
            "comb_iter_0_left": "c0_cur",
            "comb_iter_0_right": "c0_prev",
            "comb_iter_1_left": "c1_prev_a",
            "comb_iter_1_right": "c1_prev_b",
            "comb_iter_4_left": "c4_cur",
        },
        "sep": {"separable_1": "sep1", "separable_2": "sep2"},
        "conv": {"depthwise_conv2d": 0, "pointwise_conv2d": 1},
        "bn": {"bn_sep_1": "bn1", "bn_sep_2": "bn2"},
    },
    head_prefixes=("classifier.", "last_linear."),
    variant=lambda state: ("nasnetamobile", {}),  # one width: 4 @ 1056
)

LAYOUTS = (TORCHREID_OSNET, TORCHREID_NASNET)
UNSUPPORTED = {  # signature key -> what the file is; checked before LAYOUTS (OSNet-IBN has OSNet's keys too)
    "conv2.0.IN.weight": "Torchreid OSNet-IBN (osnet_ibn_x1_0, instance normalisation in conv1 and conv2)",
    "pool2.0.conv.weight": "Torchreid OSNet-AIN (osnet_ain_x*, attentive instance normalisation)",
}


def find_layout(state: Mapping[str, torch.Tensor], own_keys: set[str]) -> KeyLayout | None:
    """The foreign layout `state` is in, or None (ours, or unknown); raise ValueError for a Torchreid
    architecture we do not implement. A layout whose signature is one of `own_keys` is the model's own
    (timm's nasnetalarge uses Cadene's names) and is not foreign."""
    for signature, what in UNSUPPORTED.items():
        if signature in state and signature not in own_keys:
            raise ValueError(
                f"the weights look like {what}, which this suite does not implement; use a plain "
                "OSNet file (osnet_x1_0, osnet_x0_75, osnet_x0_5, osnet_x0_25) with backbone=osnet"
            )
    return next((layout for layout in LAYOUTS if layout.signature in state and layout.signature not in own_keys), None)
