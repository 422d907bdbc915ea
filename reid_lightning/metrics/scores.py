"""From the ranks of a query's true matches to its scores, and from per-query scores to the summary.

With k valid matches at ranks r_1 < ... < r_k (1-based, after removals):
    CMC: hit at rank n if r_1 <= n;
    AP (non-interpolated): mean over i of i / r_i (precision at each hit);
    INP: k / r_k (the mINP of Ye et al. 2021, precision at the hardest match);
    AP_market: the official Market-1501 MATLAB code (compute_AP.m) steps through the list and adds
        (recall - old_recall) * (old_precision + precision) / 2 with old_precision starting at 1,
        i.e. mean over i of ((i - 1) / (r_i - 1) + i / r_i) / 2, where the first term is 1 when r_i = 1.
Queries without a valid match are left out of every average (their count is reported).
"""

import torch


def query_scores(ranks: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
    """ranks (B, K) int64 closest first, valid (B, K) prefix mask -> per-query (B,) tensors."""
    num = valid.sum(1)  # (B,) matches per query
    r = ranks.to(torch.float64).clamp(min=1)
    hits = torch.arange(1, ranks.shape[1] + 1, dtype=torch.float64, device=ranks.device)  # i = 1..K
    precision = hits / r  # (B, K)
    old_precision = torch.where(r > 1, (hits - 1) / (r - 1).clamp(min=1), 1.0)
    denom = num.clamp(min=1).to(torch.float64)
    last = ranks.gather(1, (num - 1).clamp(min=0)[:, None]).squeeze(1).clamp(min=1)
    return {
        "valid": num > 0,
        "first_rank": ranks[:, 0] if ranks.shape[1] else torch.zeros_like(num),
        "ap": precision.masked_fill(~valid, 0).sum(1) / denom,
        "ap_market": ((old_precision + precision) / 2).masked_fill(~valid, 0).sum(1) / denom,
        "inp": num.to(torch.float64) / last.to(torch.float64),
    }


def summarize(scores: dict[str, torch.Tensor], max_rank: int) -> dict:
    """Per-query scores of all queries -> cmc (list of max_rank floats), mAP, mINP, mAP_market, count."""
    valid = scores["valid"]
    num_valid = int(valid.sum())
    if num_valid == 0:
        nan = float("nan")
        return {"cmc": [nan] * max_rank, "mAP": nan, "mINP": nan, "mAP_market": nan, "num_valid_queries": 0}
    first = scores["first_rank"][valid].clamp(max=max_rank + 1)
    hits_at = torch.bincount(first.cpu(), minlength=max_rank + 2)[1 : max_rank + 1].cumsum(0)  # hit by rank n
    return {
        "cmc": [count / num_valid for count in hits_at.tolist()],
        "mAP": scores["ap"][valid].sum().item() / num_valid,
        "mINP": scores["inp"][valid].sum().item() / num_valid,
        "mAP_market": scores["ap_market"][valid].sum().item() / num_valid,
        "num_valid_queries": num_valid,
    }
