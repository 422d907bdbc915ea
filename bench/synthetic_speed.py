"""How fast is the synthetic Market-1501 generated, and is it learnable?

    python bench/synthetic_speed.py                      # time the default set (target: < 15 s, one core)
    python bench/synthetic_speed.py --learn 30           # + train a small CNN 30 epochs, print Rank-1 / mAP

The learnability check trains a 4-block CNN (cross-entropy over the train ids, horizontal flips,
AdamW, lr / 10 after 2/3 of the epochs) on one CPU thread and evaluates query vs gallery with the
Market protocol (same pid and camera removed; cosine distance). It also prints which share of the
Rank-1 errors retrieved the query's look-alike twin (hard by design). It is a sanity check of the data,
independent of the suite's model stack.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from reid_lightning.data.datasets.market1501 import load_market1501
from reid_lightning.data.generator import SyntheticConfig, generate
from reid_lightning.data.samples import Sample


def _tensors(samples: list[Sample]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = np.stack([np.asarray(Image.open(s.path).convert("RGB")) for s in samples])
    x = (torch.from_numpy(images).float().permute(0, 3, 1, 2) / 255 - 0.45) / 0.25  # (N, 3, H, W)
    return x, torch.tensor([s.pid for s in samples]), torch.tensor([s.camid for s in samples])


def _small_cnn() -> nn.Sequential:
    def conv(c_in: int, c_out: int, k: int = 3, stride: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    def block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(*conv(c_in, c_out), *conv(c_out, c_out), nn.MaxPool2d(2))

    return nn.Sequential(
        *conv(3, 32, 5, 2), block(32, 48), block(48, 96), block(96, 128), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )  # (B, 128)


def _evaluate(net: nn.Module, query: tuple, gallery: tuple, twin_of: dict[int, int]) -> dict[str, float]:
    """Rank-1, mAP (Market protocol, cosine) and the share of Rank-1 errors that hit the look-alike twin."""
    (xq, pq, cq), (xg, pg, cg) = query, gallery
    net.eval()
    with torch.no_grad():
        fq = F.normalize(torch.cat([net(b) for b in xq.split(256)]), dim=1)  # (Q, 128)
        fg = F.normalize(torch.cat([net(b) for b in xg.split(256)]), dim=1)  # (G, 128)
    net.train()
    rank1, aps, twin_errors = [], [], 0
    for i, dist in enumerate(-fq @ fg.T):  # (G,) per query
        keep = ~((pg == pq[i]) & (cg == cq[i]))
        ranked = pg[keep][torch.argsort(dist[keep])]
        hits = ranked == pq[i]
        if hits.any():
            where = torch.nonzero(hits).flatten().float()
            rank1.append(float(hits[0]))
            aps.append(float(((torch.arange(len(where)) + 1) / (where + 1)).mean()))
            twin_errors += int(not hits[0] and twin_of.get(int(pq[i])) == int(ranked[0]))
    errors = len(rank1) - sum(rank1)
    return {
        "rank1": float(np.mean(rank1)),
        "mAP": float(np.mean(aps)),
        "twin_share_of_errors": twin_errors / max(errors, 1),
    }


def learnability(root: Path, epochs: int) -> None:
    torch.manual_seed(0)
    splits = load_market1501(root)
    x, y, _ = _tensors(splits.train)
    query, gallery = _tensors(splits.query), _tensors(splits.gallery)
    # identities 2k and 2k+1 are look-alikes; test identities follow the train ones in sorted pid order
    test_pids = sorted({s.pid for s in splits.query})
    offset = splits.num_train_pids
    twin_of = {
        pid: test_pids[((offset + j) ^ 1) - offset]
        for j, pid in enumerate(test_pids)
        if 0 <= ((offset + j) ^ 1) - offset < len(test_pids)
    }
    net, head = _small_cnn(), nn.Linear(128, splits.num_train_pids)
    opt = torch.optim.AdamW([*net.parameters(), *head.parameters()], lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, 2 * epochs // 3), gamma=0.1)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for batch in torch.randperm(len(x)).split(32)[:-1]:
            images = x[batch]
            flip = torch.rand(len(batch)) < 0.5
            images[flip] = images[flip].flip(3)
            loss = F.cross_entropy(head(net(images)), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if epoch % 5 == 0 or epoch == epochs:
            m = _evaluate(net, query, gallery, twin_of)
            print(
                f"  epoch {epoch:3d}  {time.perf_counter() - start:5.0f} s  loss {loss.item():.3f}  "
                f"Rank-1 {m['rank1']:.3f}  mAP {m['mAP']:.3f}  "
                f"errors on the twin {m['twin_share_of_errors']:.2f}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learn", type=int, default=0, help="epochs of small-CNN training (0: skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        start, cpu = time.perf_counter(), time.process_time()
        counts = generate(root, SyntheticConfig())
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        total = sum(counts.values())
        print(
            f"default synthetic set: {total} images + part maps in {seconds:.1f} s wall, {cpu:.1f} s CPU "
            f"({1000 * cpu / total:.2f} ms CPU per image) {counts}"
        )
        print(load_market1501(root).summary())
        if args.learn:
            learnability(root, args.learn)


if __name__ == "__main__":
    main()
