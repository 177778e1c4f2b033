"""Each vector's nearest others by the exact search over all pairs, each pair's product computed
once: the N x N products are made a tile of ROWS x COLUMNS at a time (a matrix product on every
core) and every tile feeds both the rows' lists and, read the other way, the columns' (the pair
(i, j) and the pair (j, i) are the same product), so the search makes half the products of
searching every vector against all. Each vector's best `count` are kept in a small heap as the
tiles pass, never the products themselves.

The vectors are kept as bfloat16 (2 bytes a dimension: a million of 512 dimensions in 1 GB).
Where this machine multiplies bfloat16 faster than float32 (processors with AMX or AVX-512
BF16 do, 5 to 10 times; others are slower), the tiles are multiplied in bfloat16 (products
rounded to 3 significant digits); elsewhere made float32 for the product. Either way each
list holds the exact best by those products.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import torch

ROWS = 8_192  # vectors of a tile's rows (8 MB at 512 dimensions)
COLUMNS = 4_096  # vectors of a tile's columns (a tile's products: 128 MB as float32)
CHUNK = 10_000  # vectors asked of rows(start, stop) at a time
GROUP = 16  # products looked at together: none beats its list's worst, all passed over
FASTER = 1.5  # bfloat16 products are used where at least this many times faster


def exact_nearest(
    rows: Callable[[int, int], np.ndarray], total: int, count: int, progress=None
) -> tuple[np.ndarray, np.ndarray]:
    """Each of `total` unit vectors' `count` nearest others by inner product, where rows(start,
    stop) gives vectors start to stop-1 (float32, of unit length; asked CHUNK at a time, once
    each): (index, similarity), each (total, count), best first; -1 and NaN where fewer others
    exist. `progress`: a vislab Progress of `total`, advanced as the products are made."""
    store = _stored(rows, total)
    best = np.full((total, count), -np.inf, np.float32)
    index = np.full((total, count), -1, np.int64)
    tiles = Tiles(store, product_type())
    threads = len(os.sched_getaffinity(0))
    firsts = np.arange(0, total, ROWS)
    work = np.cumsum((np.minimum(firsts + ROWS, total) - firsts) * (total - firsts))
    done = np.round(total * work / work[-1]).astype(int)  # in vectors, as the products go
    with ThreadPoolExecutor(threads) as pool:
        for k, first in enumerate(firsts):
            _search_rows(tiles, first, min(first + ROWS, total), best, index, pool, threads)
            if progress is not None:
                progress.advance(done[k] - (done[k - 1] if k else 0))
    order = np.argsort(-best, axis=1, kind="stable")
    index = np.take_along_axis(index, order, axis=1)
    best = np.take_along_axis(best, order, axis=1)
    best[index < 0] = np.nan
    return index, best


@functools.cache
def product_type() -> torch.dtype:
    """bfloat16 where this machine multiplies it FASTER times faster than float32 (measured on
    a small product, the best of three), else float32."""
    left = torch.randn(1024, 512)

    def seconds(kind: torch.dtype) -> float:
        a, out = left.to(kind), torch.empty(1024, 1024, dtype=kind)
        times = []
        for _ in range(3):
            began = time.perf_counter()
            torch.mm(a, a.T, out=out)
            times.append(time.perf_counter() - began)
        return min(times)

    seconds(torch.bfloat16)  # the first product of a kind sets up its kernels
    faster = seconds(torch.float32) / seconds(torch.bfloat16) >= FASTER
    return torch.bfloat16 if faster else torch.float32


def _stored(rows: Callable[[int, int], np.ndarray], total: int) -> torch.Tensor:
    """The vectors as one bfloat16 tensor, made CHUNK at a time."""
    store = None
    for start in range(0, total, CHUNK):
        part = torch.from_numpy(np.ascontiguousarray(rows(start, min(start + CHUNK, total))))
        if store is None:
            store = torch.empty((total, part.shape[1]), dtype=torch.bfloat16)
        store[start : start + len(part)] = part
    return store


class Tiles:
    """Products of the stored vectors, a tile at a time, into buffers made once."""

    def __init__(self, store: torch.Tensor, kind: torch.dtype):
        self.store, self.kind = store, kind
        self.made = torch.empty(ROWS * COLUMNS, dtype=kind)
        self.products = torch.empty(ROWS * COLUMNS, dtype=torch.float32)

    def rows(self, first: int, last: int) -> torch.Tensor:
        return self.store[first:last].to(self.kind)

    def product(self, across: torch.Tensor, start: int, stop: int) -> np.ndarray:
        """The products of `across` with vectors start to stop-1 (float32, rows by columns)."""
        shape = (len(across), stop - start)
        made = self.made[: shape[0] * shape[1]].view(shape)
        torch.mm(across, self.store[start:stop].to(self.kind).T, out=made)
        products = self.products[: shape[0] * shape[1]].view(shape)
        products.copy_(made)
        return products.numpy()


def _search_rows(tiles: Tiles, first: int, last: int, best, index, pool, threads: int) -> None:
    """The products of vectors first to last-1 with every vector from `first` on: the tile
    inside the rows feeds the rows' lists only (it holds both (i, j) and (j, i)), every later
    tile both the rows' and its columns' lists."""
    across = tiles.rows(first, last)
    total = len(tiles.store)
    inside = [(start, min(start + COLUMNS, last)) for start in range(first, last, COLUMNS)]
    later = [(start, min(start + COLUMNS, total)) for start in range(last, total, COLUMNS)]
    for start, stop in inside + later:
        products = tiles.product(across, start, stop)
        jobs = [(first, start, True, a, b) for a, b in _parts(last - first, threads)]
        if start >= last:
            jobs += [(first, start, False, a, b) for a, b in _parts(stop - start, threads, GROUP)]
        list(pool.map(lambda job, tile=products: _take(tile, *job, best, index), jobs))


def _parts(size: int, threads: int, multiple: int = 1) -> list[tuple[int, int]]:
    """`size` cut into one part per thread (bounds multiples of `multiple`)."""
    cuts = np.linspace(0, -(-size // multiple), threads + 1).astype(int) * multiple
    cuts = np.minimum(cuts, size)
    return [(a, b) for a, b in zip(cuts[:-1], cuts[1:], strict=True) if b > a]


@numba.njit(cache=True, nogil=True)
def _take(products, first_row, first_column, by_rows, low, high, best, index):
    """Push the tile's products into the lists of its rows low to high-1 (by_rows), or of its
    columns low to high-1; either way the tile is read row after row, and GROUP products of
    which none beats its list's worst are passed over at a glance."""
    rows, columns = products.shape
    if by_rows:
        for i in range(low, high):
            _into_row(products[i], first_row + i, first_column, best, index)
        return
    worst = best[first_column + low : first_column + high, 0].copy()  # kept at hand
    for i in range(rows):
        _into_columns(products[i, low:high], first_row + i, first_column + low, worst, best, index)


@numba.njit(cache=True, nogil=True, inline="always")
def _into_row(row, mine, first, best, index):
    """row[j], the product of `mine` and first + j, into the list of `mine`."""
    full = len(row) // GROUP * GROUP
    for left in range(0, len(row), GROUP):
        worst = best[mine, 0]
        if left < full:
            beats = False
            for j in range(GROUP):
                beats |= row[left + j] > worst
            if not beats:
                continue
        for j in range(left, min(left + GROUP, len(row))):
            if row[j] > best[mine, 0] and first + j != mine:
                _push(best, index, mine, row[j], first + j)


@numba.njit(cache=True, nogil=True, inline="always")
def _into_columns(row, other, first, worst, best, index):
    """row[j], the product of `other` and first + j, into the list of first + j (whose worst
    is worst[j])."""
    full = len(row) // GROUP * GROUP
    for left in range(0, len(row), GROUP):
        if left < full:
            beats = False
            for j in range(GROUP):
                beats |= row[left + j] > worst[left + j]
            if not beats:
                continue
        for j in range(left, min(left + GROUP, len(row))):
            if row[j] > worst[j] and first + j != other:
                _push(best, index, first + j, row[j], other)
                worst[j] = best[first + j, 0]


@numba.njit(cache=True, nogil=True, inline="always")
def _push(best, index, mine, value, other):
    """Put `other` at `value` into the list of `mine`, a min-heap (its worst at 0, replaced
    and sifted down)."""
    count = best.shape[1]
    at = 0
    while True:
        child = 2 * at + 1
        if child >= count:
            break
        if child + 1 < count and best[mine, child + 1] < best[mine, child]:
            child += 1
        if best[mine, child] >= value:
            break
        best[mine, at] = best[mine, child]
        index[mine, at] = index[mine, child]
        at = child
    best[mine, at] = value
    index[mine, at] = other
