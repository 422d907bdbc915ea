"""How fast is the synthetic Market-1501 generated, and is it learnable?

    python bench/synthetic_speed.py                      # time the default set (target: < 15 s, one core)
    python bench/synthetic_speed.py --learn 300          # + train a small CNN for 300 s, print Rank-1 / mAP

The learnability check trains a 4-block CNN (cross-entropy over the train ids, horizontal flips,
AdamW) on one CPU thread for a fixed wall-clock budget and evaluates query vs gallery with the
Market protocol (same pid and camera removed; cosine distance). It is a sanity check of the data,
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

from reid_lightning.data.market1501 import Sample, load_market1501
from reid_lightning.data.synthetic import SyntheticConfig, generate


def _tensors(samples: list[Sample]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    images = np.stack([np.asarray(Image.open(s.path).convert("RGB")) for s in samples])
    x = (torch.from_numpy(images).float().permute(0, 3, 1, 2) / 255 - 0.45) / 0.25  # (N, 3, H, W)
    return x, torch.tensor([s.pid for s in samples]), torch.tensor([s.camid for s in samples])


def _small_cnn() -> nn.Sequential:
    def conv(c_in: int, c_out: int, k: int = 3, stride: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]

    def block(c_in: int, c_out: int) -> nn.Sequential:
        return nn.Sequential(*conv(c_in, c_out), *conv(c_out, c_out), nn.MaxPool2d(2))

    return nn.Sequential(*conv(3, 32, 5, 2), block(32, 48), block(48, 96), block(96, 128),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (B, 128)


def _rank1_map(net: nn.Module, query: tuple, gallery: tuple) -> tuple[float, float]:
    (xq, pq, cq), (xg, pg, cg) = query, gallery
    net.eval()
    with torch.no_grad():
        fq = F.normalize(torch.cat([net(b) for b in xq.split(256)]), dim=1)
        fg = F.normalize(torch.cat([net(b) for b in xg.split(256)]), dim=1)
    net.train()
    rank1, aps = [], []
    for i, dist in enumerate(-fq @ fg.T):  # (G,) per query
        keep = ~((pg == pq[i]) & (cg == cq[i]))
        hits = pg[keep][torch.argsort(dist[keep])] == pq[i]
        if hits.any():
            where = torch.nonzero(hits).flatten().float()
            rank1.append(float(hits[0]))
            aps.append(float(((torch.arange(len(where)) + 1) / (where + 1)).mean()))
    return float(np.mean(rank1)), float(np.mean(aps))


def learnability(root: Path, seconds: float) -> None:
    torch.manual_seed(0)
    splits = load_market1501(root)
    x, y, _ = _tensors(splits.train)
    query, gallery = _tensors(splits.query), _tensors(splits.gallery)
    net, head = _small_cnn(), nn.Linear(128, splits.num_train_pids)
    opt = torch.optim.AdamW([*net.parameters(), *head.parameters()], lr=2e-3, weight_decay=5e-4)
    start, epoch = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        for batch in torch.randperm(len(x)).split(32)[:-1]:
            images = x[batch]
            flip = torch.rand(len(batch)) < 0.5
            images[flip] = images[flip].flip(3)
            loss = F.cross_entropy(head(net(images)), y[batch])
            opt.zero_grad()
            loss.backward()
            opt.step()
        epoch += 1
        if epoch % 5 == 0:
            r1, m_ap = _rank1_map(net, query, gallery)
            elapsed = time.perf_counter() - start
            print(f"  epoch {epoch:3d}  {elapsed:5.0f} s  Rank-1 {r1:.3f}  mAP {m_ap:.3f}", flush=True)
    r1, m_ap = _rank1_map(net, query, gallery)
    elapsed = time.perf_counter() - start
    print(f"small CNN, {epoch} epochs in {elapsed:.0f} s: Rank-1 {r1:.3f}, mAP {m_ap:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learn", type=float, default=0, help="seconds of small-CNN training (0: skip)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        start = time.perf_counter()
        counts = generate(root, SyntheticConfig())
        seconds = time.perf_counter() - start
        total = sum(counts.values())
        print(f"default synthetic set: {total} images + part maps in {seconds:.1f} s "
              f"({1000 * seconds / total:.2f} ms per image) {counts}")
        print(load_market1501(root).summary())
        if args.learn:
            learnability(root, args.learn)


if __name__ == "__main__":
    main()
