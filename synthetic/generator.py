"""Seeded demo-catalogue generator: home-goods products, judged queries and graded labels.

The catalogue imitates Wayfair's WANDS: ~75 product classes, WANDS-like feature keys,
invented brands and collections, and text that is realistic and noisy on purpose. A
product's colour is in its name only about half the time (often as a shade, "Charcoal"),
its material may be only in the description or the features, class nouns are often a
synonym ("Couch", "Bureau"), some descriptions mention a decoy colour, and ~3% of names
have a typo. So no single signal (name match, features, embeddings) wins by construction.

Products are made by :mod:`synthetic.productgen`, queries and labels by
:mod:`synthetic.querygen`; the word lists are the data files read by
:mod:`synthetic.vocab`. Everything is drawn from
``random.Random`` instances seeded from ``seed``: the same seed and size give the same
catalogue, on any machine and Python hash seed.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from ingest.records import Grade, LabelRecord, ProductRecord, QueryRecord, Split
from synthetic.productgen import ProductMaker
from synthetic.querygen import CatalogIndex, DraftQuery, GenProduct, build_queries, judge
from synthetic.vocab import ClassSpec, vocabulary

__all__ = ["SIZES", "CatalogSize", "GeneratedCatalog", "generate_catalog", "split_for"]

CatalogSize = Literal["tiny", "demo", "bench"]
SIZES: Mapping[CatalogSize, int] = {"tiny": 200, "demo": 5_000, "bench": 50_000}
MIN_PRODUCTS: Final = 20
MAX_PRODUCTS: Final = 500_000


@dataclass(frozen=True, slots=True)
class GeneratedCatalog:
    """A generated catalogue: products, judged queries (kind and split set) and labels."""

    products: tuple[ProductRecord, ...]
    queries: tuple[QueryRecord, ...]
    labels: tuple[LabelRecord, ...]


def split_for(query_id: str) -> Split:
    """The fixed split of a query: a stable hash of its id, ~60/20/20 train/valid/test."""
    digest = hashlib.sha256(f"kgsearch-split-v1:{query_id}".encode()).digest()
    bucket = int.from_bytes(digest[:8], "big") % 100
    return "train" if bucket < 60 else "valid" if bucket < 80 else "test"


def generate_catalog(
    *,
    size: CatalogSize | int,
    seed: int = 13,
    progress: Callable[[int, int], None] | None = None,
) -> GeneratedCatalog:
    """Generate a catalogue of ``size`` products ("tiny" 200, "demo" 5k, "bench" 50k, or
    a count from 20 to 500,000) with queries and graded labels, deterministically."""
    n = _resolve_size(size)
    streams = _Streams(seed)
    brand_depts = _assign_brand_departments(streams.get("brands"))
    gen = ProductMaker(streams.get("products"), brand_depts)
    plan = _allocate_classes(n, streams.get("classes"))
    step = max(1, n // 100)
    drafts: list[GenProduct] = []
    records: list[ProductRecord] = []
    for i, spec in enumerate(plan):
        product, record = gen.make(i, spec)
        drafts.append(product)
        records.append(record)
        if progress is not None and ((i + 1) % step == 0 or i + 1 == n):
            progress(i + 1, n)
    index = CatalogIndex(drafts)
    query_rng = streams.get("queries")
    queries = build_queries(index, query_rng, _query_count(n))
    query_rng.shuffle(queries)
    width = max(4, len(str(len(queries))))
    query_records: list[QueryRecord] = []
    labels: list[LabelRecord] = []
    label_rng = streams.get("labels")
    for number, draft in enumerate(queries, start=1):
        qid = f"Q{number:0{width}d}"
        query_records.append(_query_record(qid, draft))
        judged = judge(draft, index, label_rng)
        for grade, members in (
            (Grade.EXACT, judged.exact),
            (Grade.PARTIAL, judged.partial),
            (Grade.IRRELEVANT, judged.irrelevant),
        ):
            labels += [
                LabelRecord(query_id=qid, product_id=records[i].product_id, grade=grade)
                for i in members
            ]
    return GeneratedCatalog(tuple(records), tuple(query_records), tuple(labels))


# ---- sizes, streams, allocation ---------------------------------------------------------


def _resolve_size(size: CatalogSize | int) -> int:
    if isinstance(size, bool):
        raise ValueError(f"size must be tiny, demo, bench or a product count, not {size!r}")
    if isinstance(size, int):
        if not MIN_PRODUCTS <= size <= MAX_PRODUCTS:
            raise ValueError(
                f"size must be between {MIN_PRODUCTS} and {MAX_PRODUCTS:,} products, got {size}"
            )
        return size
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)} or a product count, not {size!r}")
    return SIZES[size]


def _query_count(n: int) -> int:
    """~40 queries for tiny (200), ~400 for demo (5k), ~600 for bench (50k) and above."""
    if n <= 200:
        return 40
    if n <= 5_000:
        return 40 + round((n - 200) * 360 / 4_800)
    return min(600, 400 + round((n - 5_000) * 200 / 45_000))


class _Streams:
    """Independent random streams derived from one seed (adding draws to one stream does
    not change the others)."""

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def get(self, name: str) -> random.Random:
        digest = hashlib.sha256(f"kgsearch-demo:{self.seed}:{name}".encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))


def _assign_brand_departments(rng: random.Random) -> dict[str, tuple[str, ...]]:
    """Each brand sells in 2–3 departments; every department gets brands."""
    vocab = vocabulary()
    departments = vocab.departments
    class_count = {d: sum(1 for c in vocab.classes if c.path[0] == d) for d in departments}
    weights = [class_count[d] + 1 for d in departments]
    out: dict[str, tuple[str, ...]] = {}
    for i, brand in enumerate(vocab.brands):
        depts = [departments[i % len(departments)]]
        want = rng.choice((2, 2, 3))
        while len(depts) < want:
            d = rng.choices(departments, weights=weights)[0]
            if d not in depts:
                depts.append(d)
        out[brand] = tuple(depts)
    return out


def _allocate_classes(n: int, rng: random.Random) -> list[ClassSpec]:
    """Which class each product belongs to: every class at least once (when n allows),
    the rest in proportion to the class weight; shuffled."""
    ranked = sorted(vocabulary().classes, key=lambda c: -c.weight)[:n]
    total = sum(c.weight for c in ranked)
    extra = n - len(ranked)
    shares = [c.weight * extra / total for c in ranked]
    counts = [1 + math.floor(s) for s in shares]
    by_remainder = sorted(range(len(ranked)), key=lambda k: -(shares[k] - math.floor(shares[k])))
    for k in by_remainder[: n - sum(counts)]:
        counts[k] += 1
    plan = [c for c, k in zip(ranked, counts, strict=True) for _ in range(k)]
    rng.shuffle(plan)
    return plan


def _query_record(query_id: str, draft: DraftQuery) -> QueryRecord:
    return QueryRecord(
        query_id=query_id,
        query=draft.text,
        query_class=draft.intent.product_class or "",
        kind=draft.kind,
        split=split_for(query_id),
    )
