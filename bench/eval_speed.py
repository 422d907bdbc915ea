"""Speed and memory of the retrieval evaluator against a straightforward per-query numpy reference.

    python bench/eval_speed.py            # Market-sized problem + 500k-distractor gallery (minutes)
    python bench/eval_speed.py --quick    # a smaller problem, seconds

A Market-1501-shaped synthetic problem: 3,368 queries x 15,913 gallery items, 512-d features,
751 identities over 6 cameras, 2,793 pid-0 distractors and 500 pid -1 junk items in the gallery.
Features are identity centres + camera shifts + noise, tuned to an mAP near a trained model's.
Prints the time of `reid_lightning.metrics.evaluate` and of `evaluate_reference` (per query: float64
distances, stable argsort, masks) in the same run, their ratio, both metrics, and the peak memory
that each call added to the process (Linux VmHWM, reset before each call). Then the same queries
against a 500,000-item gallery (Market-1501 + 500k distractors style) under a 4 GiB budget, after
a re-ranked evaluation of the Market-sized problem (k-reciprocal, memory-bounded).
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from reid_lightning.metrics import evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the reference evaluator lives with the tests
from tests.reference_evaluator import evaluate_reference  # noqa: E402

CENTRE_SCALE, CAMERA_SCALE, NOISE_SCALE = 0.58, 0.15, 1.1  # R1 ~0.9, mAP ~0.7: a trained model's range


def market_like(
    num_query: int,
    num_gallery: int,
    dim: int = 512,
    num_ids: int = 751,
    num_cams: int = 6,
    distractors: int = 2793,
    junk: int = 500,
    seed: int = 0,
) -> dict:
    """Synthetic query/gallery features and labels shaped like Market-1501's test split."""
    rng = np.random.default_rng(seed)
    centres = CENTRE_SCALE * rng.standard_normal((num_ids + 1, dim), dtype=np.float32)
    cam_shift = CAMERA_SCALE * rng.standard_normal((num_cams, dim), dtype=np.float32)
    q_pids = np.resize(np.arange(1, num_ids + 1), num_query)
    g_pids = np.concatenate(
        [
            np.resize(np.arange(1, num_ids + 1), num_gallery - distractors - junk),
            np.zeros(distractors, dtype=np.int64),
            -np.ones(junk, dtype=np.int64),
        ]
    )
    g_pids = rng.permutation(g_pids)
    q_cams, g_cams = rng.integers(0, num_cams, num_query), rng.integers(0, num_cams, num_gallery)

    def features(pids: np.ndarray, cams: np.ndarray) -> np.ndarray:
        out = np.empty((len(pids), dim), dtype=np.float32)
        for start in range(0, len(pids), 65536):  # blockwise: the 500k gallery stays at 1 GB
            p, c = pids[start : start + 65536], cams[start : start + 65536]
            noise = NOISE_SCALE * rng.standard_normal((len(p), dim), dtype=np.float32)
            unique = CENTRE_SCALE * rng.standard_normal((len(p), dim), dtype=np.float32)  # distractor, junk
            own = np.where(p[:, None] > 0, centres[np.clip(p, 0, None)], unique)
            out[start : start + 65536] = own + cam_shift[c] + noise
        return out

    return {
        "qf": torch.from_numpy(features(q_pids, q_cams)),
        "gf": torch.from_numpy(features(g_pids, g_cams)),
        "q_pids": torch.from_numpy(q_pids),
        "g_pids": torch.from_numpy(g_pids),
        "q_camids": torch.from_numpy(q_cams),
        "g_camids": torch.from_numpy(g_cams),
    }


def rss_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field))


def measured(fn, *args, **kwargs) -> tuple[dict, float, float]:
    """Run fn; return its result, wall seconds and peak RSS it added (GiB; VmHWM reset first, Linux)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear:
            clear.write("5")
    except OSError:
        pass
    base = rss_kib("VmRSS:")
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    return out, seconds, (rss_kib("VmHWM:") - base) / 2**20


def describe(result: dict) -> str:
    cmc = result["cmc"]
    return (
        f"R1 {cmc[0]:.6f} R5 {cmc[4]:.6f} R10 {cmc[9]:.6f} mAP {result['mAP']:.8f} "
        f"mINP {result['mINP']:.8f} mAP_market {result['mAP_market']:.8f} "
        f"valid {result['num_valid_queries']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="800 x 4,000 problem, no 500k run")
    parser.add_argument("--large-gallery", type=int, default=500_000)
    parser.add_argument("--budget-gib", type=float, default=4.0, help="memory budget of the large run")
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()

    nq, ng = (800, 4000) if args.quick else (3368, 15913)
    problem = market_like(nq, ng, distractors=ng * 2793 // 15913, junk=ng * 500 // 15913)
    print(
        f"problem: {nq} queries x {ng} gallery, 512-d, torch threads {torch.get_num_threads()}, "
        f"cpu count {os.cpu_count()}"
    )

    evaluate(**{k: v[:50] if k.startswith("q") else v for k, v in problem.items()})  # warm-up
    ours, t_ours, mem_ours = measured(evaluate, **problem)
    ours_cos, t_cos, mem_cos = measured(evaluate, **problem, distance="cosine")
    print(f"ours      euclidean {t_ours:8.2f} s  peak +{mem_ours:.2f} GiB  {describe(ours)}")
    print(f"ours      cosine    {t_cos:8.2f} s  peak +{mem_cos:.2f} GiB  {describe(ours_cos)}")
    ref, t_ref, mem_ref = measured(evaluate_reference, **{k: v.numpy() for k, v in problem.items()})
    print(f"reference euclidean {t_ref:8.2f} s  peak +{mem_ref:.2f} GiB  {describe(ref)}")
    print(
        f"speed-up {t_ref / t_ours:.1f}x; |mAP diff| {abs(ours['mAP'] - ref['mAP']):.2e}, "
        f"|mINP diff| {abs(ours['mINP'] - ref['mINP']):.2e}, "
        f"|mAP_market diff| {abs(ours['mAP_market'] - ref['mAP_market']):.2e}, "
        f"CMC identical: {ours['cmc'] == ref['cmc']}"
    )

    if args.quick:
        return
    reranked, t_rerank, mem_rerank = measured(evaluate, **problem, rerank=True)
    print(
        f"ours + k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) {t_rerank:.2f} s  "
        f"peak +{mem_rerank:.2f} GiB  {describe(reranked)}"
    )
    if args.skip_large:
        return
    del ref
    large = market_like(nq, args.large_gallery, distractors=args.large_gallery - ng + 2793, junk=500, seed=1)
    budget = int(args.budget_gib * 2**30)
    inputs_gib = sum(v.numel() * v.element_size() for v in large.values()) / 2**30
    result, seconds, peak = measured(evaluate, **large, memory_budget_bytes=budget)
    print(
        f"large: {nq} x {args.large_gallery} gallery, budget {args.budget_gib} GiB, "
        f"inputs {inputs_gib:.2f} GiB: "
        f"{seconds:.1f} s, peak +{peak:.2f} GiB over the inputs; {describe(result)}"
    )


if __name__ == "__main__":
    main()
