"""A bounded thread pool for work per cluster: collections, health rounds."""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def bounded_map(fn: Callable[[T], R], items: Sequence[T], workers: int) -> list[R]:
    """``fn`` over ``items``, at most ``workers`` at once, results in the items' order. One item
    runs in the caller's thread (no pool for a single cluster)."""
    if len(items) <= 1 or workers <= 1:
        return [fn(item) for item in items]
    with cf.ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="cluster") as pool:
        return list(pool.map(fn, items))
