"""Structured filters (brand, category, class, attribute values, price and rating ranges)
and the in-memory postings that evaluate them over a catalogue."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kg.documents import ProductDocument
from search.analysis import fold

__all__ = ["FilterIndex", "Filters", "UnknownFilter"]


class UnknownFilter(ValueError):
    code = "unknown_filter"

    def __init__(self, field: str, known: Sequence[str]) -> None:
        self.field = field
        shown = ", ".join(sorted(known)[:30])
        super().__init__(f"unknown filter field {field!r}; filter on one of: {shown}")


def _norm(text: str) -> str:
    return " ".join(fold(text).split())


@dataclass(frozen=True)
class Filters:
    """All given constraints must hold; several values for one field mean any of them."""

    brand: frozenset[str] = frozenset()
    category: frozenset[str] = frozenset()  # any level of the product's category path
    product_class: frozenset[str] = frozenset()
    attributes: Mapping[str, frozenset[str]] = field(default_factory=dict)
    price_min: float | None = None
    price_max: float | None = None
    rating_min: float | None = None
    rating_max: float | None = None

    def __post_init__(self) -> None:
        for low, high, name in (
            (self.price_min, self.price_max, "price"),
            (self.rating_min, self.rating_max, "rating"),
        ):
            if low is not None and high is not None and low > high:
                raise ValueError(f"{name}_min ({low}) is greater than {name}_max ({high})")

    def __bool__(self) -> bool:
        return bool(
            self.brand
            or self.category
            or self.product_class
            or self.attributes
            or any(
                v is not None
                for v in (self.price_min, self.price_max, self.rating_min, self.rating_max)
            )
        )


Sorted = tuple[np.ndarray, np.ndarray]  # values ascending, and the ids in that order


#: A range filter (price, rating) over at most this many documents left by the other
#: filters tests each of them; over more, or alone, it reads the sorted values.
TEST_EACH_BELOW = 2_000


class FilterIndex:
    """Postings per (field, normalised value) over one set of documents."""

    STRUCTURAL = ("brand", "category", "product_class")

    def __init__(self, documents: Sequence[ProductDocument]) -> None:
        self._docs: dict[str, ProductDocument] = {}
        self._postings: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        #: Per numeric field, its values sorted and the ids in that order; built by the first
        #: range filter on the field (:meth:`_in_range`), kept sorted through
        #: :meth:`updated`, dropped by an in-place :meth:`update`.
        self._sorted: dict[str, Sorted] = {}
        self.update(documents, ())

    @staticmethod
    def _keys(d: ProductDocument) -> list[tuple[str, str]]:
        keys = [("category", _norm(level)) for level in d.category_path]
        if d.brand:
            keys.append(("brand", _norm(d.brand)))
        if d.product_class:
            keys.append(("product_class", _norm(d.product_class)))
        keys.extend(("attr:" + _norm(k), _norm(v)) for k, v in d.attributes.items())
        return keys

    def update(self, upserts: Sequence[ProductDocument], deletes: Sequence[str]) -> None:
        """Replace or add ``upserts`` and drop ``deletes`` (incremental, for catalog edits)."""
        self._sorted = {}
        for pid in [*deletes, *(d.product_id for d in upserts)]:
            old = self._docs.pop(pid, None)
            if old is not None:
                for field, value in self._keys(old):
                    self._postings[field][value].discard(pid)
        for d in upserts:
            self._docs[d.product_id] = d
            for field, value in self._keys(d):
                self._postings[field][value].add(d.product_id)

    def updated(self, upserts: Sequence[ProductDocument], deletes: Sequence[str]) -> FilterIndex:
        """A copy with the edits applied, leaving this index as it was, so a search holding
        it keeps one consistent view. Only the postings the edits touch are copied."""
        touched: dict[str, set[str]] = defaultdict(set)
        for pid in [*deletes, *(d.product_id for d in upserts)]:
            if (old := self._docs.get(pid)) is not None:
                for name, value in self._keys(old):
                    touched[name].add(value)
        for d in upserts:
            for name, value in self._keys(d):
                touched[name].add(value)
        new = FilterIndex(())
        new._docs = self._docs.copy()  # a clone of the table (see GraphSignals.updated)
        new._postings.update(self._postings)
        for name, values in touched.items():
            inner = new._postings[name] = defaultdict(set, self._postings.get(name, {}))
            for value in values:
                inner[value] = set(inner.get(value, ()))
        new.update(upserts, deletes)
        # The sorted values stay sorted: the edited ids leave, their new values go in.
        gone = {*deletes, *(d.product_id for d in upserts)}
        latest = {d.product_id: d for d in upserts}  # a repeated id: the last wins
        for name, ordered in self._sorted.items():
            new._sorted[name] = _resorted(
                ordered,
                [(v, pid) for pid in gone if (v := _value(self._docs.get(pid), name)) is not None],
                sorted((v, pid) for pid, d in latest.items() if (v := _value(d, name)) is not None),
            )
        return new

    @property
    def fields(self) -> list[str]:
        return [*self.STRUCTURAL, *(k[5:] for k in self._postings if k.startswith("attr:"))]

    def field_for(self, name: str) -> str:
        """Map a user-facing filter name to its postings key, or raise :class:`UnknownFilter`."""
        key = _norm(name)
        if key in self.STRUCTURAL:
            return key
        if "attr:" + key in self._postings:
            return "attr:" + key
        raise UnknownFilter(name, self.fields)

    def allowed(self, filters: Filters) -> frozenset[str]:
        sets: list[set[str]] = []
        for name, values in (
            ("brand", filters.brand),
            ("category", filters.category),
            ("product_class", filters.product_class),
            *filters.attributes.items(),
        ):
            if not values:
                continue
            postings = self._postings[self.field_for(name)]
            sets.append(set().union(*(postings.get(_norm(v), set()) for v in values)))
        ids = set.intersection(*sets) if sets else None
        for name, low, high in (
            ("price", filters.price_min, filters.price_max),
            ("average_rating", filters.rating_min, filters.rating_max),
        ):
            if low is None and high is None:
                continue
            if ids is not None and len(ids) <= TEST_EACH_BELOW:  # few left: test each
                lo = float("-inf") if low is None else low
                hi = float("inf") if high is None else high
                docs = self._docs
                ids = {i for i in ids if (v := _value(docs[i], name)) is not None and lo <= v <= hi}
            else:
                found = self._in_range(name, low, high)
                ids = found if ids is None else ids & found
        return frozenset(self._docs) if ids is None else frozenset(ids)

    def _in_range(self, name: str, low: float | None, high: float | None) -> set[str]:
        """Ids whose ``name`` (``price``, ``average_rating``) is known and within
        ``[low, high]``: two binary searches over the values, sorted by the first range
        filter (~70 ms a field at 50k) and kept sorted by :meth:`updated`, instead of a
        test of each document on every search (~35 ms at 50k)."""
        ordered = self._sorted.get(name)
        if ordered is None:
            pids = list(self._docs)
            raw = np.fromiter(
                (np.nan if (v := _value(self._docs[p], name)) is None else v for p in pids),
                dtype=np.float64,
                count=len(pids),
            )
            known = ~np.isnan(raw)
            order = np.argsort(raw[known], kind="stable")
            ordered = raw[known][order], np.array(pids, dtype=object)[known][order]
            self._sorted[name] = ordered  # another thread may build the same: no harm
        values, ids = ordered
        start = 0 if low is None else int(np.searchsorted(values, low, side="left"))
        end = len(ids) if high is None else int(np.searchsorted(values, high, side="right"))
        return set(ids[start:end])


def _value(doc: ProductDocument | None, name: str) -> float | None:
    """``doc``'s ``price`` or ``average_rating``; None when unknown (or NaN)."""
    value = None if doc is None else getattr(doc, name)
    return None if value is None or value != value else float(value)


def _resorted(
    ordered: Sorted, leaving: Sequence[tuple[float, str]], arriving: Sequence[tuple[float, str]]
) -> Sorted:
    """``ordered`` without the ``leaving`` (value, id) pairs and with the ``arriving`` ones
    (sorted by value) in place: an edit costs a copy of the arrays, not a new sort."""
    values, ids = ordered
    drop = []
    for value, pid in leaving:
        start = int(np.searchsorted(values, value, side="left"))
        end = int(np.searchsorted(values, value, side="right"))
        drop.append(start + list(ids[start:end]).index(pid))
    values, ids = np.delete(values, drop), np.delete(ids, drop)
    if arriving:
        new_values = np.array([v for v, _ in arriving], dtype=np.float64)
        at = np.searchsorted(values, new_values, side="right")
        values = np.insert(values, at, new_values)
        ids = np.insert(ids, at, np.array([p for _, p in arriving], dtype=object))
    return values, ids
