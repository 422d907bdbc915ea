"""Visibility-aware distances: compare two images on the body parts visible in both.

Each image has P part features (P, D) and a visibility per part (boolean, or a score in [0, 1] that
`visible_parts` thresholds: visible when score >= threshold). The distance of query q and gallery item g
is the mean, over the parts visible in both, of the per-part distance (the evaluator's metric:
squared L2, or 1 - cosine similarity of the two part features):
    d(q, g) = sum_p v_qp v_gp d_p(q, g) / sum_p v_qp v_gp.
A part invisible in either image contributes nothing. Two images with no common visible part have no
distance: they rank after every other gallery item, among themselves by gallery index (the protocol's
tie-break), as +inf would under a stable sort. (BPBReID ranks such pairs last too, with the largest
part distance + 1.)

Exact and memory-bounded like `FeatureDistances`: one float64 product of masked, per-part augmented
operands gives every numerator at once (part p of a row is v_p * [-2f_p, |f_p|^2, 1] on the left and
v_p * [f_p, 1, |f_p|^2] on the right, see distance.py), a second product of the visibilities the
denominators (exact small integers). Its rounding error is bounded, and the ranking re-decides unsure
items with `direct_visible_distance`, the ground-truth formula in float64 numpy. A pair without a common
part gets `last`, a power of two above twice any finite distance (exact in float32 and float64), from
both forms: the ranking needs finite keys, and `last` orders like +inf.
"""

from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F

from reid_lightning.metrics.distance import (
    DEFAULT_MEMORY_BUDGET,
    NORM_EPS,
    PAIRS_PER_BATCH,
    check_metric,
    direct_distance,
    error_bound,
    gallery_operands,
    query_operands,
)


def visible_parts(visibility: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """(N, P) booleans as given, or scores -> booleans: visible when score >= threshold."""
    if visibility.dtype == torch.bool:
        return visibility
    if not visibility.is_floating_point():
        raise ValueError(f"visibility must be boolean or float scores, got dtype {visibility.dtype}")
    return visibility >= threshold


def as_parts(features: torch.Tensor, visible: torch.Tensor, name: str) -> torch.Tensor:
    """Embeddings (N, P*D) or part features (N, P, D) -> (N, P, D), P taken from the visibility (N, P)."""
    if visible.ndim != 2 or len(visible) != len(features):
        raise ValueError(
            f"{name} visibility has shape {tuple(visible.shape)}; expected (N, P) with N = "
            f"{len(features)} like its features"
        )
    parts = visible.shape[1]
    if features.ndim == 2:
        if parts == 0 or features.shape[1] % parts:
            raise ValueError(
                f"{name} embeddings of width {features.shape[1]} do not split into {parts} parts "
                "(the visibility's second dimension); the embedding must be P part features "
                "concatenated"
            )
        features = features.view(len(features), parts, -1)
    if features.ndim != 3 or features.shape[1] != parts:
        raise ValueError(f"{name} part features have shape {tuple(features.shape)}; expected (N, {parts}, D)")
    return features


def last_distance(qf: torch.Tensor, gf: torch.Tensor, metric: str) -> float:
    """A power of two above twice every finite visibility-aware distance of these features."""
    if metric == "cosine":
        bound = 2.0
    else:  # a mean of |q_p - g_p|^2 <= 2 (|q_p|^2 + |g_p|^2)
        bound = 2.0 * float(qf.double().pow(2).sum(-1).max() + gf.double().pow(2).sum(-1).max())
    return float(2.0 ** (int(np.ceil(np.log2(max(bound, 1.0)))) + 2))


def direct_visible_distance(
    queries: np.ndarray,
    gallery: np.ndarray,
    query_visible: np.ndarray,
    gallery_visible: np.ndarray,
    metric: str,
    last: float = np.inf,
) -> np.ndarray:
    """Ground truth in float64 numpy: row-paired parts (N or 1, P, D), (N, P, D) and visibilities (N or 1, P),
    (N, P) -> (N,) mean distance over the parts visible in both; `last` where no part is."""
    gallery = np.asarray(gallery, dtype=np.float64)
    n, parts, dim = gallery.shape
    queries = np.broadcast_to(np.asarray(queries, dtype=np.float64), gallery.shape)
    per_part = direct_distance(queries.reshape(-1, dim), gallery.reshape(-1, dim), metric).reshape(n, parts)
    common = np.broadcast_to(query_visible, (n, parts)) & np.asarray(gallery_visible)  # (N, P)
    count = common.sum(1)
    total = np.where(common, per_part, 0.0).sum(1)
    return np.where(count > 0, total / np.maximum(count, 1), last)


def part_operands(parts: torch.Tensor, visible: torch.Tensor, metric: str, left: bool) -> torch.Tensor:
    """(N, P, D) parts, (N, P) visibility -> (N, P * (D + k)) float64 operands, invisible parts zeroed."""
    n, num_parts, dim = parts.shape
    operands = (query_operands if left else gallery_operands)(parts.reshape(n * num_parts, dim), metric)
    operands = operands.view(n, num_parts, -1) * visible.to(torch.float64).unsqueeze(-1)
    return operands.view(n, -1)


class VisibleDistances:
    """Query-chunk x gallery visibility-aware distances, served like `FeatureDistances.rows`."""

    bytes_per_element = 48  # the ranking's 32 + the (B, G) float64 visible-part counts and numerators

    def __init__(
        self,
        q_parts: torch.Tensor,
        g_parts: torch.Tensor,
        q_visible: torch.Tensor,
        g_visible: torch.Tensor,
        metric: str,
        budget_bytes: int,
    ):
        check_metric(metric)
        self.qf, self.gf, self.metric = q_parts, g_parts, metric
        self.q_visible, self.g_visible = q_visible.bool(), g_visible.bool()
        num_parts, dim = g_parts.shape[1:]
        row_bytes = num_parts * (dim + 2) * 8 + num_parts * 8
        fits = len(g_parts) * row_bytes <= budget_bytes // 2
        self.block = len(g_parts) if fits else max(1, budget_bytes // 8 // row_bytes)
        self.cached = self._gallery(0, len(g_parts)) if fits else None  # operands, visibility float64
        self.resident_bytes = len(g_parts) * row_bytes if fits else 2 * self.block * row_bytes
        self.last = last_distance(q_parts, g_parts, metric)
        self.product_dim = num_parts * (dim + 2)
        masked = g_parts.double() * self.g_visible.unsqueeze(-1)
        self.gallery_sq_norm_max = 1.0 if metric == "cosine" else float(masked.pow(2).sum((1, 2)).max())

    def _gallery(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
        visible = self.g_visible[start:stop]
        return (part_operands(self.gf[start:stop], visible, self.metric, left=False), visible.to(torch.float64))

    def rows(self, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor, Callable]:
        """Queries [start, stop) -> distances (B, G) float64, error bound (B, 1), exact(rows, cols)."""
        queries, visible = self.qf[start:stop], self.q_visible[start:stop]
        left = part_operands(queries, visible, self.metric, left=True)  # (B, P*(D+2))
        left_visible = visible.to(torch.float64)  # (B, P)
        total = torch.empty(len(queries), len(self.gf), dtype=torch.float64, device=queries.device)
        count = torch.empty_like(total)
        for s in range(0, len(self.gf), self.block):
            right, right_visible = self.cached if self.cached is not None else self._gallery(s, s + self.block)
            total[:, s : s + self.block] = left @ right.T
            count[:, s : s + self.block] = left_visible @ right_visible.T  # exact: small integers
        dist = total.div_(count.clamp(min=1)).masked_fill_(count == 0, self.last)
        del count
        q_sq = (queries.double() * visible.unsqueeze(-1)).pow(2).sum((1, 2))  # (B,)
        tol = error_bound(q_sq, self.gallery_sq_norm_max, self.product_dim, self.metric)
        if self.metric == "cosine":  # error_bound's cosine scale is 2 per product; here 2 per part
            tol = tol * self.qf.shape[1]

        def exact(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
            return self.direct(queries, visible, rows, cols)

        return dist, tol, exact

    def direct(
        self, queries: torch.Tensor, visible: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor
    ) -> torch.Tensor:
        """`direct_visible_distance` of the pairs (queries[rows], gallery[cols]) -> (N,) float64, a few
        thousand pairs at a time."""
        out = torch.empty(len(rows), dtype=torch.float64)
        for start in range(0, len(rows), PAIRS_PER_BATCH):
            r, c = rows[start : start + PAIRS_PER_BATCH], cols[start : start + PAIRS_PER_BATCH]
            out[start : start + len(r)] = torch.from_numpy(
                direct_visible_distance(
                    queries[r].cpu().double().numpy(),
                    self.gf[c].cpu().double().numpy(),
                    visible[r].cpu().numpy(),
                    self.g_visible[c].cpu().numpy(),
                    self.metric,
                    self.last,
                )
            )
        return out.to(queries.device)


def visible_distance_source(
    qf: torch.Tensor,
    gf: torch.Tensor,
    q_visibility: torch.Tensor,
    g_visibility: torch.Tensor,
    metric: str,
    *,
    normalize: bool = False,
    threshold: float = 0.5,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET,
) -> VisibleDistances:
    """Embeddings (N, P*D) or parts (N, P, D) with visibility (N, P) -> `VisibleDistances`.
    normalize: L2-normalise each part feature (the distance is per part)."""
    q_visible, g_visible = visible_parts(q_visibility, threshold), visible_parts(g_visibility, threshold)
    q_parts, g_parts = as_parts(qf, q_visible, "query"), as_parts(gf, g_visible, "gallery")
    if q_parts.shape[1:] != g_parts.shape[1:]:
        raise ValueError(
            f"query parts {tuple(q_parts.shape[1:])} and gallery parts {tuple(g_parts.shape[1:])} "
            "differ; both must come from the same model"
        )
    if normalize:
        q_parts, g_parts = F.normalize(q_parts, dim=-1, eps=NORM_EPS), F.normalize(g_parts, dim=-1, eps=NORM_EPS)
    return VisibleDistances(
        q_parts,
        g_parts.to(q_parts.device),
        q_visible.to(q_parts.device),
        g_visible.to(q_parts.device),
        metric,
        memory_budget_bytes,
    )
