"""The object store's ordered index: pages after the first start where the last one ended."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

from simulator import resources as r
from simulator.objectstore import ObjectStore


def _store() -> ObjectStore:
    uids = itertools.count()
    return ObjectStore(uid=lambda: f"uid-{next(uids)}", now=lambda: datetime(2026, 12, 1, tzinfo=UTC))


def _pod(ns: str, name: str) -> dict[str, object]:
    return {"metadata": {"namespace": ns, "name": name}, "spec": {}}


def test_keys_stay_in_order_as_objects_come_and_go_between_pages() -> None:
    store, rng = _store(), random.Random(7)
    for i in range(300):
        store.create(r.PODS, _pod(f"ns-{i % 7}", f"pod-{i:04d}"))
    assert len(list(store.scan(r.PODS))) == 300  # builds the index; later writes keep it
    seen: list[tuple[str, str]] = []
    last = None
    kept = {k for k, _ in store.scan(r.PODS)}
    live = set(kept)
    while True:
        page = list(itertools.islice(store.scan(r.PODS, start_after=last), 25))
        if not page:
            break
        seen += [k for k, _ in page]
        last = page[-1][0]
        for _ in range(5):  # churn between pages, as builds arrive and finish
            name = f"new-{rng.randrange(10**6):06d}"
            ns = f"ns-{rng.randrange(7)}"
            store.create(r.PODS, _pod(ns, name))
            live.add((ns, name))
        victim = rng.choice(sorted(kept - set(seen)) or sorted(kept))
        store.delete(r.PODS, *victim)
        kept.discard(victim)
        live.discard(victim)
    assert seen == sorted(seen) and len(seen) == len(set(seen))  # in order, nothing twice
    assert kept <= set(seen)  # every object that lived through the list was listed
    assert [k for k, _ in store.scan(r.PODS)] == sorted(live)  # the index is the store's keys, in order


def test_mass_deletes_and_keys_created_again_keep_the_index_true() -> None:
    store = _store()
    for i in range(500):
        store.create(r.PODS, _pod("ns", f"pod-{i:04d}"))
    list(store.scan(r.PODS))
    for i in range(0, 500, 2):  # many gone at once: the index is sorted again
        store.delete(r.PODS, "ns", f"pod-{i:04d}")
    assert [k[1] for k, _ in store.scan(r.PODS)] == [f"pod-{i:04d}" for i in range(1, 500, 2)]
    store.delete(r.PODS, "ns", "pod-0001")
    store.create(r.PODS, _pod("ns", "pod-0001"))  # a few: merged into the index, once each
    store.create(r.PODS, _pod("ns", "pod-0000"))
    assert [k[1] for k, _ in store.scan(r.PODS)] == ["pod-0000", *(f"pod-{i:04d}" for i in range(1, 500, 2))]
