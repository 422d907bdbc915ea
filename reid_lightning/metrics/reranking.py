"""k-reciprocal re-ranking (Zhong et al., CVPR 2017), memory-bounded: no (Q+G)^2 matrix is ever held.

The algorithm of the authors' code, over all N = Q + G images:
  1. original distance d(i, j) (our metric), each row divided by its maximum over all N images;
     initial ranking = k1+1 nearest neighbours of every image (ties by index);
  2. R(i) = k-reciprocal neighbours of i among its k1+1 nearest (i is among theirs too); each
     c in R(i) whose own k1/2-reciprocal set R'(c) shares more than 2/3 of its items with R(i)
     adds R'(c); V[i, e] = exp(-d(i, e)) over that set, normalised to sum 1;
  3. query expansion: V[i] = mean of V over i's k2 nearest neighbours (when k2 > 1);
  4. Jaccard distance 1 - S/(2 - S), S = sum_f min(V[i, f], V[j, f]);
     final = (1 - lambda) * Jaccard + lambda * d.
What is stored: the (N, k1+1) neighbour lists and V as sparse rows (a few dozen entries each). The
dense pieces are query-chunk x N (neighbour search) and query-chunk x G (final distances), sized
from the memory budget. The (N, D+2) float64 feature operands are the other resident cost.
Differences from the authors' code: float64 throughout (theirs stores V in float16), the distance is
ours as given (squared euclidean or cosine; Torchreid squares its input once more), ties by index.
"""

import torch

from reid_lightning.metrics.distance import DEFAULT_MEMORY_BUDGET, gallery_operands, query_operands

RERANK_DEFAULTS = {"k1": 20, "k2": 6, "lambda_value": 0.3}  # Zhong et al. 2017's settings for Market-1501

PAIRS_PER_STEP = 1 << 22  # sparse products are expanded this many (row, column) pairs at a time


def smallest_k(dist: torch.Tensor, k: int) -> torch.Tensor:
    """(B, N) -> (B, k) column indices of the k smallest values per row, ascending, ties by index."""
    extra = int(k < dist.shape[1])  # one more value tells whether a tie straddles the k-th place
    values, index = torch.topk(dist, k + extra, dim=1, largest=False, sorted=True)
    if extra:
        tied = values[:, k] == values[:, k - 1]
    else:
        tied = torch.zeros(len(dist), dtype=torch.bool, device=dist.device)
    values, index = values[:, :k], index[:, :k]
    by_index, perm = index.sort(dim=1)
    result = by_index.gather(1, values.gather(1, perm).sort(dim=1, stable=True).indices)
    if tied.any():  # the k smallest are not unique: take the lowest indices among the tied values
        result[tied] = torch.sort(dist[tied], dim=1, stable=True).indices[:, :k]
    return result


class KReciprocalDistances:
    """Re-ranked query x gallery distances, served by query chunk like `FeatureDistances`."""

    bytes_per_element = 64  # original, overlap and Jaccard (B, G) float64 on top of the ranking's 32

    def __init__(
        self,
        qf: torch.Tensor,
        gf: torch.Tensor,
        metric: str,
        k1: int = RERANK_DEFAULTS["k1"],
        k2: int = RERANK_DEFAULTS["k2"],
        lambda_value: float = RERANK_DEFAULTS["lambda_value"],
        budget_bytes: int = DEFAULT_MEMORY_BUDGET,
    ):
        features = torch.cat([qf, gf])
        n, self.num_query, self.k2, self.lambda_value = len(features), len(qf), k2, lambda_value
        if n < k1 + 2:
            raise ValueError(f"re-ranking with k1={k1} needs more than {k1 + 1} images, got {n}; lower k1")
        self.left, self.right = query_operands(features, metric), gallery_operands(features, metric)
        self.rows_per_step = max(1, budget_bytes // (40 * n))  # (rows, N) float64 distances + top-k work
        self.neighbours, self.row_max = self._nearest(k1 + 1)  # (N, k1+1), (N,)
        v_rows, v_cols, v_vals = self._encode(k1)
        if k2 > 1:
            v_rows, v_cols, v_vals = self._expand_queries(v_rows, v_cols, v_vals)
        self.v_ptr = _row_pointers(v_rows, n)
        self.v_cols, self.v_vals = v_cols, v_vals
        gallery = v_rows >= self.num_query  # inverted index of V over the gallery rows, by column
        order = torch.argsort(v_cols[gallery], stable=True)
        self.inv_ptr = _row_pointers(v_cols[gallery][order], n)
        self.inv_rows = v_rows[gallery][order] - self.num_query
        self.inv_vals = v_vals[gallery][order]
        self.resident_bytes = (
            (self.left.numel() + self.right.numel()) * 8
            + self.neighbours.numel() * 8
            + (len(v_cols) + len(self.inv_rows)) * 24
        )

    def _distance_rows(self, start: int, stop: int, cols: slice = slice(None)) -> torch.Tensor:
        return self.left[start:stop] @ self.right[cols].T  # (B, N or G) float64

    def _pair_distances(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """d(rows[m], cols[m]) for M pairs, a few thousand at a time -> (M,) float64."""
        return torch.cat(
            [(self.left[rows[s : s + 4096]] * self.right[cols[s : s + 4096]]).sum(1) for s in range(0, len(rows), 4096)]
        )

    def _nearest(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = len(self.left)
        neighbours = torch.empty(n, k, dtype=torch.int64, device=self.left.device)
        row_max = torch.empty(n, dtype=torch.float64, device=self.left.device)
        for start in range(0, n, self.rows_per_step):
            dist = self._distance_rows(start, start + self.rows_per_step)
            row_max[start : start + len(dist)] = dist.max(1).values.clamp(min=torch.finfo(torch.float64).tiny)
            neighbours[start : start + len(dist)] = smallest_k(dist / row_max[start : start + len(dist), None], k)
        return neighbours, row_max

    def _reciprocal(self, k: int, rows: torch.Tensor) -> torch.Tensor:
        """(R,) rows -> (R, k) mask: which of the k nearest neighbours also have the row among their k."""
        forward = self.neighbours[rows, :k]  # (R, k)
        return (self.neighbours[forward, :k] == rows[:, None, None]).any(-1)

    def _encode(self, k1: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step 2: sparse V as (rows, cols, values), rows ascending, columns ascending within a row."""
        n, half = len(self.left), int(round(k1 / 2))  # round half to even, like np.around
        device = self.left.device
        half_mask = torch.cat(
            [
                self._reciprocal(half + 1, torch.arange(s, min(s + self.rows_per_step, n), device=device))
                for s in range(0, n, self.rows_per_step)
            ]
        )  # (N, half+1): R'(c)
        parts = []
        for start in range(0, n, self.rows_per_step):
            rows = torch.arange(start, min(start + self.rows_per_step, n), device=device)
            forward = self.neighbours[rows]  # (R, k1+1)
            in_r = self._reciprocal(k1 + 1, rows)  # (R, k1+1): R(i)
            members = forward.masked_fill(~in_r, -1)
            cand = self.neighbours[forward, : half + 1]  # (R, k1+1, half+1): R'(c) candidates
            cand_in = half_mask[forward]  # (R, k1+1, half+1)
            shared = ((cand[..., None] == members[:, None, None, :]).any(-1) & cand_in).sum(-1)  # (R, k1+1)
            adds = in_r & (shared > 2 / 3 * cand_in.sum(-1))
            added = cand.masked_fill(~(cand_in & adds[..., None]), -1).flatten(1)  # (R, (k1+1)(half+1))
            entries = torch.cat([members, added], dim=1)
            entries = entries.masked_fill(entries < 0, n).sort(dim=1).values  # (R, L), n = empty
            unique = entries < n
            unique[:, 1:] &= entries[:, 1:] != entries[:, :-1]
            local, slot = unique.nonzero(as_tuple=True)
            row, col = rows[local], entries[local, slot]
            weight = torch.exp(-self._pair_distances(row, col) / self.row_max[row])  # (M,)
            total = torch.zeros(len(rows), dtype=torch.float64, device=device).index_add_(0, local, weight)
            parts.append((row, col, weight / total[local]))
        return tuple(torch.cat(p) for p in zip(*parts, strict=True))

    def _expand_queries(self, rows, cols, vals) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step 3: V[i] <- mean of V over the k2 nearest neighbours of i (a sparse row average)."""
        n = len(self.left)
        ptr = _row_pointers(rows, n)
        parts = []
        for start in range(0, n, self.rows_per_step):
            stop = min(start + self.rows_per_step, n)
            near = self.neighbours[start:stop, : self.k2]  # (R, k2)
            owner = torch.arange(start, stop, device=rows.device)[:, None].expand_as(near).flatten()
            pos, out_row = _expand(ptr, near.flatten(), owner)
            key = out_row * n + cols[pos]
            unique, inverse = torch.unique(key, sorted=True, return_inverse=True)
            summed = torch.zeros(len(unique), dtype=torch.float64, device=rows.device)
            summed.index_add_(0, inverse, vals[pos] / self.k2)
            parts.append((unique // n, unique % n, summed))
        return tuple(torch.cat(p) for p in zip(*parts, strict=True))

    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor, None]:
        """Queries [start, stop) -> final distances (B, G) float64 (exact as given: tolerance 0)."""
        original = self._distance_rows(start, stop, slice(self.num_query, None))
        original /= self.row_max[start:stop, None]
        overlap = torch.zeros_like(original)  # S(i, j) = sum_f min(V[i, f], V[j, f])
        first, last = int(self.v_ptr[start]), int(self.v_ptr[stop])
        entry_row = torch.repeat_interleave(
            torch.arange(stop - start, device=original.device),
            self.v_ptr[start + 1 : stop + 1] - self.v_ptr[start:stop],
        )
        sizes = self.inv_ptr[self.v_cols[first:last] + 1] - self.inv_ptr[self.v_cols[first:last]]
        bounds = _split_by_total(sizes, PAIRS_PER_STEP)
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            cols, vals = self.v_cols[first + a : first + b], self.v_vals[first + a : first + b]
            pos, which = _expand(self.inv_ptr, cols, torch.arange(b - a, device=original.device))
            flat = entry_row[a:b][which] * original.shape[1] + self.inv_rows[pos]
            overlap.view(-1).index_add_(0, flat, torch.minimum(vals[which], self.inv_vals[pos]))
        jaccard = 1 - overlap / (2 - overlap)
        final = jaccard.mul_(1 - self.lambda_value).add_(original, alpha=self.lambda_value)
        return final, torch.zeros(len(final), 1, dtype=torch.float64, device=final.device), None


def _row_pointers(sorted_rows: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted row ids (M,) -> CSR pointers (n+1,)."""
    return torch.searchsorted(sorted_rows, torch.arange(n + 1, device=sorted_rows.device))


def _expand(ptr: torch.Tensor, rows: torch.Tensor, owner: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Every stored position of each of `rows` (CSR ptr), with the owner of the row it came from."""
    sizes = ptr[rows + 1] - ptr[rows]
    owners = torch.repeat_interleave(owner, sizes)
    starts = torch.repeat_interleave(ptr[rows] - (sizes.cumsum(0) - sizes), sizes)
    return starts + torch.arange(len(owners), device=ptr.device), owners


def _split_by_total(sizes: torch.Tensor, cap: int) -> list[int]:
    """Cut points so that each consecutive group of `sizes` sums to about `cap` (at least one item)."""
    cumulative = sizes.cumsum(0)
    cuts, done = [0], 0
    while cuts[-1] < len(sizes):
        nxt = int(torch.searchsorted(cumulative, done + cap, right=True))
        nxt = max(nxt, cuts[-1] + 1)
        cuts.append(min(nxt, len(sizes)))
        done = int(cumulative[cuts[-1] - 1])
    return cuts
