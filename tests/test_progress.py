"""Progress output: the rich bar on a terminal, one line per epoch elsewhere (a log file, CI, a pipe)."""

import io

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import RichProgressBar
from torch.utils.data import DataLoader

from reid_lightning.callbacks.progress import EpochLines, clock, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def training_step(self, batch, batch_idx):
        loss = torch.nn.functional.cross_entropy(self.fc(batch["image"]), batch["pid"])
        self.log("train/loss", loss, on_step=True, on_epoch=True)
        self.log("train/acc", 0.25, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val/rank1", 0.5)
        self.log("val/mAP", 0.125)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def loader(n: int = 12) -> DataLoader:
    items = [{"image": torch.randn(4), "pid": i % 2} for i in range(n)]
    return DataLoader(items, batch_size=4)


def test_a_terminal_keeps_the_rich_bar_anything_else_gets_lines():
    assert isinstance(progress_bar(Terminal()), RichProgressBar)
    assert isinstance(progress_bar(io.StringIO()), EpochLines)
    assert clock(3725.4) == "1:02:05"


def test_a_two_epoch_run_prints_one_line_per_epoch(tmp_path):
    out = io.StringIO()
    trainer = pl.Trainer(
        max_epochs=2,
        callbacks=[progress_bar(out)],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
        num_sanity_val_steps=1,
    )
    trainer.fit(Tiny(), loader(), loader(4))
    lines = out.getvalue().splitlines()
    assert len(lines) == 2, out.getvalue()
    for epoch, line in enumerate(lines, start=1):
        fields = line.split("  ")
        assert fields[:2] == [f"epoch {epoch}/2", f"steps 3 ({3 * epoch})"]
        assert fields[3] == "acc 0.2500" and fields[4].endswith(" img/s")
        assert fields[5].startswith("elapsed ") and fields[6].startswith("ETA ")
        assert fields[7] == "val R1 0.5000 mAP 0.1250"
        assert fields[2].startswith("loss ")
