"""Exact ranks of each query's true matches, vectorised over a chunk of queries, without an argsort.

The metrics of a query only need the positions of its true matches in its ranked gallery, after the
removal of same-pid-same-camera items and junk (pid -1). The i-th closest match (0-based) sits at
    rank_i = i + 1 + (number of kept non-matching gallery items ranked before it),
so for a chunk of B queries against G gallery items:
  1. distances (B, G) float64; removed items and every same-pid item are set to +inf;
  2. the distance values of each row are sorted as float32 keys (numpy's SIMD sort on CPU: values only,
     no indices, roughly 3x faster than an argsort);
  3. for each match, distance m_i known exactly, keys below m_i - tol are counted by binary search;
  4. items whose key falls in the window [m_i - tol, m_i + tol] (float32 rounding, the bounded
     rounding of the product form, or true ties: usually none, a handful at most) are decided
     exactly: by their direct distance (see distance.py), then by gallery index.
Ordering is "distance ascending, then gallery index", as numpy's stable argsort of the float64
reference distances gives, so ranks here equal the reference's ranks exactly.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

ExactDistance = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (chunk rows (N,), gallery cols (N,)) -> (N,)


class SamePidIndex:
    """For each query, the gallery positions with its pid (ascending), padded to the largest such group."""

    def __init__(self, query_pids: torch.Tensor, gallery_pids: torch.Tensor):
        self.order = torch.argsort(gallery_pids, stable=True)  # gallery positions grouped by pid, ascending
        pids, counts = torch.unique_consecutive(gallery_pids[self.order], return_counts=True)
        slot = torch.searchsorted(pids, query_pids).clamp(max=len(pids) - 1)
        found = pids[slot] == query_pids
        self.start = (counts.cumsum(0) - counts)[slot]
        self.count = torch.where(found, counts[slot], 0)
        self.width = int(self.count.max()) if len(self.count) else 0  # K

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
        list(pool.map(lambda i: array[bounds[i]:bounds[i + 1]].sort(axis=1), range(workers)))
    return keys


def _round_f32(x: torch.Tensor, down: bool) -> torch.Tensor:
    """float64 -> float32 rounded towards -inf (down) or +inf, so the float32 window contains x."""
    y = x.to(torch.float32)
    off = y.to(torch.float64) > x if down else y.to(torch.float64) < x
    toward = torch.full_like(y, -torch.inf if down else torch.inf)
    return torch.where(off, torch.nextafter(y, toward), y)


def match_ranks(dist: torch.Tensor, same_pid: torch.Tensor, same_pid_valid: torch.Tensor,
                is_match: torch.Tensor, junk: torch.Tensor, tol: torch.Tensor,
                exact: ExactDistance | None, max_pairs: int) -> tuple[torch.Tensor, torch.Tensor]:
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

    keys = sort_rows_(dist.to(torch.float32))  # (B, G)
    before = torch.searchsorted(keys, lower)  # (B, K) keys < lower: certainly ranked before the match
    in_window = torch.searchsorted(keys, upper, right=True) > before
    del keys
    window = valid & in_window
    if window.any():
        before = before + _resolve_windows(dist, match_dist, match_col, lower, upper, window, tol, exact,
                                           max_pairs)
    ranks = torch.arange(1, same_pid.shape[1] + 1, device=dist.device) + before
    return ranks.masked_fill(~valid, 0), valid


def _resolve_windows(dist: torch.Tensor, match_dist: torch.Tensor, match_col: torch.Tensor,
                     lower: torch.Tensor, upper: torch.Tensor, window: torch.Tensor, tol: torch.Tensor,
                     exact: ExactDistance | None, max_pairs: int) -> torch.Tensor:
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
        row, col = rows[local[start:start + step]], cols[start:start + step]
        value = dist[row, col]  # (Mb,)
        key = value.to(torch.float32)[:, None]
        inside = window[row] & (key >= lower[row]) & (key <= upper[row])  # (Mb, K)
        reference = match_dist[row]
        if exact is not None:
            unsure = (inside & ((value[:, None] - reference).abs() <= tol[row])).any(1)
            if unsure.any():
                value = value.clone()
                value[unsure] = exact(row[unsure], col[unsure])
        precedes = (value[:, None] < reference) | ((value[:, None] == reference) & (col[:, None] < match_col[row]))
        counts.index_add_(0, row, (inside & precedes).long())
    return counts


def plan_chunk_rows(num_queries: int, gallery_size: int, match_width: int, budget_bytes: int,
                    bytes_per_element: int = 32) -> int:
    """Queries per chunk so that the chunk's working memory (~bytes_per_element * rows * G) fits."""
    per_row = bytes_per_element * gallery_size + 64 * match_width + 1024
    rows = budget_bytes // per_row
    if rows < 1:
        raise ValueError(f"memory budget of {budget_bytes} bytes is below one query row against "
                         f"{gallery_size} gallery items ({per_row} bytes); raise memory_budget_bytes")
    return int(min(rows, max(num_queries, 1)))
