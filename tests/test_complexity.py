"""Complexity counting: hand-worked layer rules, Table 4.3 of the thesis, and the fit-start callback."""

import json

import pytest
import pytorch_lightning as pl
import torch
from pytorch_lightning.loggers import TensorBoardLogger
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from reid_lightning.analysis.complexity import (
    count_macs,
    count_parameters,
    count_thesis_complexity,
    count_thesis_macs,
    main,
    table_4_3,
)
from reid_lightning.callbacks.complexity_logger import ComplexityCallback
from reid_lightning.reporting.run_records import read_complexity

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # see tests/conftest.py


def tiny_net() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),  # (1, 4, 8, 8): (27 + 1) * 256 = 7,168
        nn.BatchNorm2d(4),  # 4 * 256 = 1,024
        nn.ReLU(),  # 256
        nn.MaxPool2d(2),  # (1, 4, 4, 4): 3 * 64 = 192
        nn.AdaptiveAvgPool2d(1),  # 16 * 4 = 64
        nn.Flatten(),
        nn.Linear(4, 5),  # (4 + 1) * 5 = 25
    )


def test_thesis_rules_hand_worked():
    net = tiny_net()
    result = count_thesis_complexity(net, (torch.zeros(1, 3, 8, 8),))
    assert result.macs == 7_168 + 1_024 + 256 + 192 + 64 + 25
    assert result.params == count_parameters(net) == (108 + 4) + 8 + (20 + 5)
    assert count_thesis_macs(net, (torch.zeros(1, 3, 8, 8),)) == result.macs


def test_functional_ops_are_free_and_shared_layers_count_per_call():
    conv = nn.Conv2d(2, 2, 1, bias=False)  # 4 parameters, (2) * 2*4*4 = 64 MACs per call

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = conv

        def forward(self, x):
            return torch.relu(self.conv(self.conv(x)))  # functional ReLU: not counted

    result = count_thesis_complexity(Twice(), (torch.zeros(1, 2, 4, 4),))
    assert (result.macs, result.params) == (128, 8)
    assert count_parameters(Twice()) == 4


def test_depthwise_and_grouped_convs():
    dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)  # 9 per output element
    assert count_thesis_macs(dw, (torch.zeros(1, 8, 5, 5),)) == 9 * 8 * 25
    assert count_macs(dw, (torch.zeros(1, 8, 5, 5),)) == {"macs": 9 * 8 * 25, "flops": 2 * 9 * 8 * 25}


def test_flop_counter_counts_conv_and_linear_only():
    result = count_macs(tiny_net(), (torch.zeros(1, 3, 8, 8),))
    assert result == {"macs": 27 * 256 + 20, "flops": 2 * (27 * 256 + 20)}


def test_counting_restores_training_mode():
    net = tiny_net().train()
    count_macs(net, (torch.zeros(1, 3, 8, 8),))
    count_thesis_complexity(net, (torch.zeros(1, 3, 8, 8),))
    assert net.training and not any(m._forward_hooks for m in net.modules())


@pytest.fixture(scope="module")
def table():
    return {row["model"]: row for row in table_4_3(128, 64)}


@pytest.mark.parametrize("model", ["ResNet-50", "DCTI", "NASNet", "OSNet"])
def test_table_4_3_exact(table, model):
    row = table[model]
    assert (row["params"], row["macs_thesis_convention"]) == (row["params_thesis"], row["macs_thesis"])


def test_table_4_3_values(table):
    assert table["OSNet"]["macs_thesis_convention"] == 255_199_776
    assert table["OSNet"]["params"] == 2_193_616 and table["OSNet"]["params_distinct"] == 2_169_508
    assert table["NASNet"]["macs_thesis_convention"] == 99_959_103
    assert table["ResNet-50"]["macs_thesis_convention"] == 677_931_759
    assert table["DCTI"]["macs_thesis_convention"] == 2_056_823_023
    mobilenet = table["MobileNetV2"]  # timm's MobileNetV2: close to Torchreid's, not identical
    assert abs(mobilenet["params"] - 2_224_960) == 1_088
    assert abs(mobilenet["macs_thesis_convention"] - 55_627_776) / 55_627_776 < 0.03
    assert all(row["flops"] == 2 * row["macs"] for row in table.values())


def test_main_prints_table(capsys, monkeypatch):
    import reid_lightning.analysis.complexity as complexity

    monkeypatch.setattr(
        complexity,
        "table_4_3",
        lambda h, w, **kwargs: [
            {
                "model": "OSNet",
                "params": 2_193_616,
                "params_thesis": 2_193_616,
                "macs_thesis_convention": 255_199_776,
                "macs_thesis": 255_199_776,
                "params_distinct": 2_169_508,
                "macs": 1,
                "flops": 2,
                "note": "n",
            }
        ],
    )
    main(["--size", "128x64"])
    out = capsys.readouterr().out
    assert "Table 4.3 at 128x64" in out and "255,199,776" in out and "+0" in out


# --- callback -----------------------------------------------------------------------------------------


class TinyReID(pl.LightningModule):
    """The attributes the callback relies on: backbone, head, classifier, example_input()."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(4, 3)

    def example_input(self, batch_size: int = 1) -> tuple:
        return torch.zeros(batch_size, 3, 8, 4, device=self.device), None

    def forward(self, images, part_maps=None):
        return {"logits": self.classifier(self.head(self.backbone(images)))}

    def training_step(self, batch, batch_idx):
        images, targets = batch
        return nn.functional.cross_entropy(self(images)["logits"], targets)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def fit(tmp_path, callback):
    model = TinyReID()
    data = DataLoader(TensorDataset(torch.randn(4, 3, 8, 4), torch.tensor([0, 1, 2, 0])), batch_size=2)
    trainer = pl.Trainer(
        default_root_dir=tmp_path,
        logger=TensorBoardLogger(tmp_path, name="tb"),
        max_steps=1,
        callbacks=[callback],
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    trainer.fit(model, data)
    return trainer, model


def test_callback_writes_json_and_scalars(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    trainer, model = fit(tmp_path, ComplexityCallback(latency=False))  # counts only: test_latency.py times
    expected = {
        "params_backbone": 108 + 8,
        "params_head": 0,
        "params_classifier": 15,
        "params_total": 131,
        "macs": 27 * 4 * 32 + 12,
        "flops": 2 * (27 * 4 * 32 + 12),
        "macs_thesis": 27 * 128 + 4 * 128 + 128 + 32 * 4 + 5 * 3,
        "params_thesis": 131,
        "input_size": "8x4",
    }
    assert read_complexity(tmp_path) == expected
    assert json.loads((tmp_path / "complexity.json").read_text()) == expected
    events = EventAccumulator(trainer.logger.log_dir)
    events.Reload()
    assert events.Scalars("complexity/params_total")[0].value == 131
    assert events.Scalars("complexity/macs_thesis")[0].value == expected["macs_thesis"]


def test_callback_input_size_override(tmp_path):
    fit(tmp_path, ComplexityCallback(input_size=[16, 8], latency=False))
    assert read_complexity(tmp_path)["input_size"] == "16x8"
    assert read_complexity(tmp_path)["macs"] == 27 * 4 * 128 + 12
    with pytest.raises(ValueError, match="height, width"):
        ComplexityCallback(input_size=[128])
