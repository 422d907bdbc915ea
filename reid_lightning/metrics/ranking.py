"""Exact ranks of each query's true matches, vectorised over a chunk of queries, without an argsort.

A query's metrics only need the positions of its true matches in its ranked gallery, after the
removal of same-pid-same-camera items and junk (pid -1). The i-th closest match (0-based) sits at
    rank_i = i + 1 + (number of kept non-matching gallery items ranked before it),
so for a chunk of B queries against G gallery items:
  1. distances (B, G) float64; removed items and every same-pid item are set to +inf; the matches'
     distances m_i come from the exact formula and are sorted (ties by gallery index);
  2. each m_i gets a float32 window [m_i - tol, m_i + tol] (tol bounds the product form's rounding);
     keys = float32(distances) below the window certainly rank before the match, keys above after;
  3. counting keys below each window needs order only among the items up to the hardest match's
     window (~1% of the gallery for a trained model): those are sorted all together as int64
     (row << 32 | order-preserving float bits) and counted by binary search. When they are many
     (untrained or random features) each row's keys are sorted whole instead (numpy's SIMD sort);
  4. items inside a window (float32 rounding, or true ties; rarely more than a few per chunk) are
     decided exactly: by the direct distance (see distance.py), then by gallery index.
The order is "distance ascending, then gallery index", as numpy's stable argsort of the float64
reference distances gives, so the ranks here equal the reference's ranks exactly.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

# exact(chunk rows (N,), gallery columns (N,)) -> (N,) float64 ground-truth distances
ExactDistance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SamePidIndex:
    """For each query, the gallery positions with its pid (ascending), padded to the largest such group."""

    def __init__(self, query_pids: torch.Tensor, gallery_pids: torch.Tensor):
        self.order = torch.argsort(gallery_pids, stable=True)  # gallery positions grouped by pid, ascending
        pids, counts = torch.unique_consecutive(gallery_pids[self.order], return_counts=True)
        slot = torch.searchsorted(pids, query_pids).clamp(max=len(pids) - 1)
        found = pids[slot] == query_pids
        self.start = (counts.cumsum(0) - counts)[slot]
        self.count = torch.where(found, counts[slot], 0)
        self.width = max(1, int(self.count.max()) if len(self.count) else 0)  # K; >= 1 so empty rows index safely

    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Queries [start, stop) -> gallery positions (B, K) and their validity (B, K)."""
        k = torch.arange(self.width, device=self.order.device)
        valid = k < self.count[start:stop, None]
        position = (self.start[start:stop, None] + k).clamp(max=len(self.order) - 1)
        return self.order[position], valid


def sort_rows_(keys: torch.Tensor) -> torch.Tensor:
    """Sort each row of a float32 (B, G) tensor in place.

    On CPU with numpy's vectorised sort (values only, about 4x faster than torch.sort here), rows split
    over torch's thread count (numpy releases the GIL while sorting)."""
    if keys.device.type != "cpu":
        return keys.copy_(torch.sort(keys, dim=1).values)
    array = keys.numpy()
    workers = max(1, min(torch.get_num_threads(), len(array) // 8))
    if workers == 1:
        array.sort(axis=1)
        return keys
    bounds = np.linspace(0, len(array), workers + 1).astype(int).tolist()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda i: array[bounds[i] : bounds[i + 1]].sort(axis=1), range(workers)))
    return keys


def _round_f32(x: torch.Tensor, down: bool) -> torch.Tensor:
    """float64 -> float32 rounded towards -inf (down) or +inf, so the float32 window contains x."""
    y = x.to(torch.float32)
    off = y.to(torch.float64) > x if down else y.to(torch.float64) < x
    toward = torch.full_like(y, -torch.inf if down else torch.inf)
    return torch.where(off, torch.nextafter(y, toward), y)


def match_ranks(
    dist: torch.Tensor,
    same_pid: torch.Tensor,
    same_pid_valid: torch.Tensor,
    is_match: torch.Tensor,
    junk: torch.Tensor,
    tol: torch.Tensor,
    exact: ExactDistance | None,
    max_pairs: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Ranks (1-based, after removals) of the true matches of a chunk of queries.

    dist (B, G) float64 (overwritten); same_pid (B, K) gallery positions with the query's pid and
    same_pid_valid (B, K) their padding mask; is_match (B, K) those with another camera; junk (J,)
    gallery positions always removed; tol (B, 1) bound on |dist - exact distance|; exact(rows, cols)
    the ground-truth distances, or None when dist is exact itself (then tol must be 0).
    Returns ranks (B, K) int64, matches sorted closest first, and their mask (B, K) (a prefix per row).
    """
    rows = torch.arange(len(dist), device=dist.device)[:, None].expand_as(same_pid)
    match_dist = torch.full(same_pid.shape, torch.inf, dtype=torch.float64, device=dist.device)  # (B, K)
    if exact is None:
        match_dist[is_match] = dist[rows[is_match], same_pid[is_match]]
    else:
        match_dist[is_match] = exact(rows[is_match], same_pid[is_match])
    dist[rows[same_pid_valid], same_pid[same_pid_valid]] = torch.inf  # matches and same-camera junk
    dist.index_fill_(1, junk, torch.inf)

    # Same-pid positions ascend, so a stable sort breaks distance ties by gallery index.
    match_dist, perm = match_dist.sort(dim=1, stable=True)
    match_col = same_pid.gather(1, perm)
    valid = is_match.gather(1, perm)  # (B, K), a prefix of each row
    lower, upper = _round_f32(match_dist - tol, down=True), _round_f32(match_dist + tol, down=False)

    before, at_most = count_keys(dist, lower, upper, valid)
    window = valid & (at_most > before)
    if window.any():
        before = before + _resolve_windows(dist, match_dist, match_col, lower, upper, window, tol, exact, max_pairs)
    ranks = torch.arange(1, same_pid.shape[1] + 1, device=dist.device) + before
    return ranks.masked_fill(~valid, 0), valid


def count_keys(
    dist: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, valid: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """dist (B, G) float64, float32 bounds (B, K) -> per bound #keys < lower, #keys <= upper, where
    key = float32(dist).

    Only items up to a row's last bound need ordering (typically ~1% of the gallery: those ranked
    before the hardest match); they are sorted all together as int64 (row << 32 | order-preserving
    float bits). When they are many (hard or random features), each row is sorted whole instead.
    """
    rows = torch.arange(len(dist), device=dist.device)
    num = valid.sum(1)
    last = torch.where(num > 0, upper[rows, (num - 1).clamp(min=0)], -torch.inf)  # (B,) float32
    row, col = (dist <= last.to(torch.float64)[:, None]).nonzero(as_tuple=True)  # (N,) each
    if len(row) > dist.numel() // 4:
        keys = sort_rows_(dist.to(torch.float32))  # (B, G)
        return torch.searchsorted(keys, lower), torch.searchsorted(keys, upper, right=True)
    packed = _sort_((row << 32) | _order_bits(dist[row, col].to(torch.float32)))  # (N,) by row, then key
    start = torch.searchsorted(row, rows)[:, None]  # (B, 1) first packed position of each row
    below = torch.searchsorted(packed, (rows[:, None] << 32) | _order_bits(lower)) - start
    at_most = torch.searchsorted(packed, (rows[:, None] << 32) | _order_bits(upper), right=True) - start
    return below, at_most


def _order_bits(x: torch.Tensor) -> torch.Tensor:
    """float32 -> int64 in [0, 2^32) with the same order (-0.0 and 0.0 both map to 0.0's value)."""
    bits = (x + 0.0).view(torch.int32).to(torch.int64)
    return torch.where(bits >= 0, bits, -1 - (bits & 0x7FFFFFFF)) + (1 << 31)


def _sort_(x: torch.Tensor) -> torch.Tensor:
    """Sort a 1-D tensor (in place on CPU, with numpy's vectorised sort)."""
    if x.device.type == "cpu":
        x.numpy().sort()
        return x
    return torch.sort(x).values


def _resolve_windows(
    dist: torch.Tensor,
    match_dist: torch.Tensor,
    match_col: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    window: torch.Tensor,
    tol: torch.Tensor,
    exact: ExactDistance | None,
    max_pairs: int,
) -> torch.Tensor:
    """(B, K) count of window items that truly precede each match (ties: lower gallery index first)."""
    rows = window.any(1).nonzero().squeeze(1)  # (R,) rows with a non-empty window
    keys = dist[rows].to(torch.float32)  # (R, G), the same float32 keys as were sorted
    member = torch.zeros_like(keys, dtype=torch.bool)
    for k in window[rows].any(0).nonzero().squeeze(1).tolist():  # loop over match slots, not queries
        sel = window[rows, k].nonzero().squeeze(1)
        key_sel = keys[sel]
        member[sel] |= (key_sel >= lower[rows[sel], k, None]) & (key_sel <= upper[rows[sel], k, None])
    del keys
    local, cols = member.nonzero(as_tuple=True)  # (M,) window items, each (row, gallery column) once
    del member
    counts = torch.zeros_like(match_dist, dtype=torch.int64)
    step = max(1, max_pairs // match_dist.shape[1])
    for start in range(0, len(cols), step):
        row, col = rows[local[start : start + step]], cols[start : start + step]
        value = dist[row, col]  # (Mb,)
        key = value.to(torch.float32)[:, None]
        inside = window[row] & (key >= lower[row]) & (key <= upper[row])  # (Mb, K)
        reference = match_dist[row]
        if exact is not None:
            unsure = (inside & ((value[:, None] - reference).abs() <= tol[row])).any(1)
            if unsure.any():
                value = value.clone()
                value[unsure] = exact(row[unsure], col[unsure])
        tie_first = (value[:, None] == reference) & (col[:, None] < match_col[row])
        precedes = (value[:, None] < reference) | tie_first
        counts.index_add_(0, row, (inside & precedes).long())
    return counts


def plan_chunk_rows(
    num_queries: int,
    gallery_size: int,
    match_width: int,
    budget_bytes: int,
    resident_bytes: int = 0,
    bytes_per_element: int = 32,
) -> int:
    """Queries per chunk so that resident data + the chunk's working memory (~bytes_per_element * rows * G)
    fit the budget."""
    per_row = bytes_per_element * gallery_size + 64 * match_width + 1024
    rows = (budget_bytes - resident_bytes) // per_row
    if rows < 1:
        raise ValueError(
            f"memory budget of {budget_bytes} bytes is too small: {resident_bytes} bytes stay "
            f"resident and one query row against {gallery_size} gallery items needs {per_row}; "
            f"raise memory_budget_bytes to at least {resident_bytes + per_row}"
        )
    return int(min(rows, max(num_queries, 1)))
