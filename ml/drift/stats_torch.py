"""The torch backend of :mod:`ml.drift.stats`: numeric columns batched on a device (a GPU worker's, or the CPU).

Per chunk of columns: the current values go to the device once (float64, so every count and CDF value equals
numpy's and scipy's), non-finite values become ``+inf`` padding, one batched sort, one batched ``searchsorted``
into the reference (padded with ``+inf`` to a rectangle, kept on the device between batches), a scatter that
merges both sides, cumulative counts, and masked reductions for Wasserstein and the K-S statistic. Only a few
numbers per column come back to the host, where :func:`ml.drift.stats.numeric_stat` finishes the column with the
same code as the numpy backend. torch is imported here only, when this backend is asked for.
"""

from __future__ import annotations

import warnings

import numpy as np

from ml.drift.stats import ColumnStat, ReferenceStats, column_array, hist_counts, ks_d, numeric_stat

# Device memory one chunk may use (about 8 float64/int64 arrays of reference + current rows per column).
_CPU_CHUNK_BYTES = 1 << 30
_BYTES_PER_MERGED_ROW = 8 * 9


def numeric_columns_torch(reference: ReferenceStats, refs: list, current, device: str | None) -> list[ColumnStat]:
    """Numeric columns ``refs`` of ``reference`` against ``current`` (a DataFrame) on ``device``."""
    import torch

    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if not refs:
        return []
    longest = max(len(r.values) for r in refs) + len(current)
    chunk = max(1, _chunk_bytes(device) // (longest * _BYTES_PER_MERGED_ROW))
    results: list[ColumnStat] = []
    for start in range(0, len(refs), chunk):
        results += _chunk(reference, refs[start : start + chunk], current, device)
    return results


def _chunk_bytes(device) -> int:
    import torch

    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return free // 2
    return _CPU_CHUNK_BYTES


def _chunk(reference: ReferenceStats, refs: list, current, device) -> list[ColumnStat]:
    import torch

    host = [column_array(current[r.name]) for r in refs]
    x = torch.empty((len(refs), len(current)), dtype=torch.float64, device=device)
    with warnings.catch_warnings():  # a read-only view of the frame's block: torch only reads it here
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        for row, (values, _) in enumerate(host):
            x[row].copy_(torch.from_numpy(values))
    finite = torch.isfinite(x)
    n_valid = finite.sum(dim=1)
    n_null = torch.isnan(x).sum(dim=1)
    x.masked_fill_(~finite, float("inf"))
    del finite
    batch = _TorchBatch(_reference_tensor(reference, refs, device), torch.sort(x, dim=1).values, n_valid)
    del x
    n_null_host, n_valid_host = n_null.tolist(), n_valid.tolist()
    return [
        numeric_stat(
            reference, ref, len(current), n_null_host[i], n_valid_host[i], host[i][1], _TorchPair(batch, i, ref.values)
        )
        for i, ref in enumerate(refs)
    ]


def _reference_tensor(reference: ReferenceStats, refs: list, device):
    """The chunk's sorted reference values as one ``+inf``-padded rectangle, cached per device."""
    import torch

    key = (str(device), tuple(r.name for r in refs))
    cached = reference._device_cache.get(key)
    if cached is None:
        width = max(1, max(len(r.values) for r in refs))
        padded = np.full((len(refs), width), np.inf)
        for row, ref in enumerate(refs):
            padded[row, : len(ref.values)] = ref.values
        counts = torch.tensor([len(r.values) for r in refs], device=device)
        cached = (torch.from_numpy(padded).to(device), counts)
        reference._device_cache[key] = cached
    return cached


class _TorchBatch:
    """Sorted current columns of one chunk and the batched merge with the reference, computed once on demand."""

    def __init__(self, reference, cur_sorted, n_cur):
        (self.ref, self.n_ref), self.cur, self.n_cur = reference, cur_sorted, n_cur
        self._merged = None
        last = (n_cur - 1).clamp(min=0).unsqueeze(1)
        self.min_max = list(zip(self.cur[:, 0].tolist(), self.cur.gather(1, last).squeeze(1).tolist(), strict=True))

    def merged_stats(self) -> tuple[list[float], list[tuple[float, float]]]:
        """Per column: scipy's Wasserstein sum and (max, min) of F_ref - F_cur over the ends of equal-value runs."""
        if self._merged is None:
            self._merged = self._compute()
        return self._merged

    def _compute(self):
        import torch

        ref, cur = self.ref, self.cur
        rows, n2 = cur.shape
        length = ref.shape[1] + n2
        pos = torch.searchsorted(ref, cur, right=True)
        pos += torch.arange(n2, device=cur.device)
        is_cur = torch.zeros((rows, length), dtype=torch.bool, device=cur.device)
        is_cur.scatter_(1, pos, True)
        merged = torch.empty((rows, length), dtype=torch.float64, device=cur.device)
        merged.scatter_(1, pos, cur)
        del pos
        merged.masked_scatter_(~is_cur, ref)
        cur_count = torch.cumsum(is_cur, dim=1)
        del is_cur
        ref_count = torch.arange(1, length + 1, device=cur.device) - cur_count
        diff = ref_count.double() / self.n_ref.double().unsqueeze(1)
        del ref_count
        diff -= cur_count.double() / self.n_cur.double().unsqueeze(1)
        del cur_count
        valid = (self.n_ref + self.n_cur).unsqueeze(1)
        index = torch.arange(length, device=cur.device)
        steps = merged[:, 1:] - merged[:, :-1]
        inside = index[:-1] < valid - 1
        wasserstein = torch.where(inside, diff[:, :-1].abs() * steps, 0.0).sum(dim=1)
        run_end = torch.cat([steps != 0, torch.ones((rows, 1), dtype=torch.bool, device=cur.device)], dim=1)
        del steps
        run_end &= index < valid
        high = torch.where(run_end, diff, float("-inf")).amax(dim=1)
        low = torch.where(run_end, diff, float("inf")).amin(dim=1)
        return wasserstein.tolist(), list(zip(high.tolist(), low.tolist(), strict=True))


class _TorchPair:
    """One column of a :class:`_TorchBatch`, with the interface ``ml.drift.stats.numeric_stat`` expects."""

    def __init__(self, batch: _TorchBatch, row: int, ref_host: np.ndarray):
        self.batch, self.row, self.ref_host = batch, row, ref_host

    def wasserstein(self) -> float:
        return self.batch.merged_stats()[0][self.row]

    def ks_statistic(self) -> float:
        high, low = self.batch.merged_stats()[1][self.row]
        return ks_d(high, low)

    def counts(self, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        cur = self.batch.cur[self.row]
        on_device = torch.from_numpy(edges).to(cur.device)
        cumulative = torch.cat(
            [torch.searchsorted(cur, on_device[:-1]), torch.searchsorted(cur, on_device[-1:], right=True)]
        )
        return hist_counts(self.ref_host, edges), np.diff(cumulative.cpu().numpy())

    def cur_min_max(self) -> tuple[float, float]:
        return self.batch.min_max[self.row]

    def cur_sorted(self) -> np.ndarray:
        n = int(self.batch.n_cur[self.row])
        return self.batch.cur[self.row, :n].cpu().numpy()

    def ref_sorted_host(self) -> np.ndarray:
        return self.ref_host
