"""Queries with a structured intent, and graded labels derived from that intent.

Every query is made from what the catalogue actually holds (a class with products, a
product's brand, a product's attribute values), so it has at least one Exact product.
Labels come from the intent alone, never from the query text: Exact = right class and every
constraint met; Partial = right class missing a constraint, or a related class meeting all
of them; Irrelevant = a sample of look-alike products (a shared word or attribute value)
from unrelated classes.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from ingest.records import QueryKind
from synthetic.typos import misspell_text
from synthetic.vocab import ClassSpec, vocabulary

__all__ = [
    "MAX_IRRELEVANT",
    "MAX_PARTIAL",
    "CatalogIndex",
    "DraftQuery",
    "GenProduct",
    "Intent",
    "Judged",
    "build_queries",
    "judge",
    "kind_quotas",
    "matches",
    "tokens",
]

MAX_PARTIAL = 300
MAX_IRRELEVANT = 30
_TOKEN = re.compile(r"\w+")


@dataclass(frozen=True, slots=True)
class GenProduct:
    """A generated product with the canonical facts its labels are judged on."""

    index: int
    spec: ClassSpec
    brand: str
    facts: Mapping[str, str]
    name: str


@dataclass(frozen=True, slots=True)
class Intent:
    """What a shopper wants: a class (None = anything of the brand), a brand, constraints."""

    product_class: str | None
    brand: str | None = None
    constraints: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class DraftQuery:
    text: str
    kind: QueryKind
    intent: Intent
    # The correctly spelled text, used to find look-alike products.
    plain_text: str


@dataclass(frozen=True, slots=True)
class Judged:
    exact: tuple[int, ...]
    partial: tuple[int, ...]
    irrelevant: tuple[int, ...]


def tokens(text: str) -> list[str]:
    """Lowercase word tokens of ``text`` without stopwords, first occurrence order."""
    stopwords = vocabulary().stopwords
    seen: dict[str, None] = {}
    for tok in _TOKEN.findall(text.lower()):
        if tok not in stopwords:
            seen.setdefault(tok, None)
    return list(seen)


@cache
def _material_lineage(material: str) -> frozenset[str]:
    materials = vocabulary().materials
    out = {material}
    parent = materials[material].parent
    while parent is not None:
        out.add(parent)
        parent = materials[parent].parent
    return frozenset(out)


def _constraint_ok(kind: str, want: str, facts: Mapping[str, str]) -> bool:
    have = facts.get(kind)
    if have is None:
        return False
    tolerance = vocabulary().numeric_tolerance
    if kind in tolerance:
        return abs(float(have) - float(want)) <= tolerance[kind]
    if kind == "material":
        return want in _material_lineage(have)
    return have == want


def matches(product: GenProduct, intent: Intent, *, ignore_class: bool = False) -> bool:
    """Whether ``product`` meets the intent's brand and every constraint (and its class,
    unless ``ignore_class``)."""
    if not ignore_class and intent.product_class not in (None, product.spec.name):
        return False
    if intent.brand is not None and product.brand != intent.brand:
        return False
    return all(_constraint_ok(k, v, product.facts) for k, v in intent.constraints)


class CatalogIndex:
    """Look-ups over the generated products: by class, brand, name word, attribute value."""

    def __init__(self, products: Sequence[GenProduct]) -> None:
        self.products = products
        self.by_class: dict[str, list[int]] = {}
        self.by_brand: dict[str, list[int]] = {}
        self.by_token: dict[str, list[int]] = {}
        self.by_fact: dict[tuple[str, str], list[int]] = {}
        self.by_department: dict[str, list[int]] = {}
        for p in products:
            self.by_class.setdefault(p.spec.name, []).append(p.index)
            self.by_brand.setdefault(p.brand, []).append(p.index)
            self.by_department.setdefault(p.spec.path[0], []).append(p.index)
            for tok in tokens(f"{p.name} {p.brand}"):
                self.by_token.setdefault(tok, []).append(p.index)
            for kind, value in p.facts.items():
                values = _material_lineage(value) if kind == "material" else (value,)
                for v in sorted(values):
                    self.by_fact.setdefault((kind, v), []).append(p.index)

    def present_classes(self) -> list[ClassSpec]:
        return [c for c in vocabulary().classes if c.name in self.by_class]

    def exact(self, intent: Intent) -> list[int]:
        if intent.product_class is None:
            pool = self.by_brand.get(intent.brand or "", [])
        else:
            pool = self.by_class.get(intent.product_class, [])
        return [i for i in pool if matches(self.products[i], intent)]


def judge(query: DraftQuery, index: CatalogIndex, rng: random.Random) -> Judged:
    """Graded labels for one query, from its intent."""
    intent = query.intent
    products = index.products
    exact = index.exact(intent)
    partial: list[int] = []
    near: set[str] = set()
    if intent.product_class is not None:
        related_classes = vocabulary().related.get(intent.product_class, ())
        near = {intent.product_class, *related_classes}
        partial = [
            i for i in index.by_class[intent.product_class] if not matches(products[i], intent)
        ]
        for related in related_classes:
            partial += [
                i
                for i in index.by_class.get(related, [])
                if matches(products[i], intent, ignore_class=True)
            ]
        if len(partial) > MAX_PARTIAL:
            partial = sorted(rng.sample(partial, MAX_PARTIAL))

    def unrelated(i: int) -> bool:
        p = products[i]
        return p.spec.name not in near and (intent.brand is None or p.brand != intent.brand)

    pools: list[Sequence[int]] = [
        index.by_token[t] for t in tokens(query.plain_text) if t in index.by_token
    ]
    fact_pools: list[Sequence[int]] = [index.by_fact.get(c, []) for c in intent.constraints]
    departments = {products[i].spec.path[0] for i in exact}
    fact_pools += [index.by_department[d] for d in sorted(departments)]
    chosen: dict[int, None] = {}
    everything: list[Sequence[int]] = [range(len(products))]
    for group, want in ((pools, 20), (fact_pools, MAX_IRRELEVANT), (everything, 10)):
        group = [g for g in group if len(g)]
        for _ in range(want * 6):
            if len(chosen) >= want or not group:
                break
            i = rng.choice(rng.choice(group))
            if i not in chosen and unrelated(i):
                chosen[i] = None
    return Judged(tuple(exact), tuple(partial), tuple(sorted(chosen)))


# ---- rendering ------------------------------------------------------------------------------


@cache
def _word_tables() -> Mapping[str, Mapping[str, tuple[str, ...]]]:
    """Surface forms of the word-valued kinds that have no structure of their own."""
    vocab = vocabulary()
    return {
        "color": vocab.color_words,
        "style": vocab.style_words,
        "shape": vocab.shape_words,
        "pattern": vocab.pattern_words,
        "finish": vocab.finish_words,
    }


_NUMBER_FORMS = ("{n} inch", "{n} in", '{n}"', "{n}in", "{n} inch")


def query_value(kind: str, value: str, rng: random.Random) -> str:
    """A shopper's way of writing one canonical attribute value."""
    vocab = vocabulary()
    tables = _word_tables()
    if kind in tables:
        return rng.choice(tables[kind][value])
    if kind == "material":
        return rng.choice(vocab.materials[value].words)
    if kind == "size":
        return rng.choice(vocab.sizes[value].words)
    if kind in vocab.numeric_tolerance:
        return rng.choice(_NUMBER_FORMS).format(n=value)
    return f"{value} {rng.choice(vocab.count_words[kind])}"


def _short_nouns(spec: ClassSpec) -> tuple[str, ...]:
    return tuple(n for n in spec.query_nouns if len(n.split()) <= 2) or spec.query_nouns


def _attribute_text(
    spec: ClassSpec, constraints: Sequence[tuple[str, str]], rng: random.Random
) -> str:
    kinds = vocabulary().attribute_kinds
    ordered = sorted(constraints, key=lambda kv: kinds.index(kv[0]))
    words = [query_value(k, v, rng) for k, v in ordered]
    noun = rng.choice(_short_nouns(spec))
    if len(ordered) == 1 and ordered[0][0] in ("color", "size", "material") and rng.random() < 0.12:
        return f"{noun} {words[0]}"
    return " ".join([*words, noun])


def _nominal(spec: ClassSpec, kind: str, actual: str) -> str:
    return min(spec.attrs[kind], key=lambda v: abs(float(v) - float(actual)))


def _attribute_intent(product: GenProduct, rng: random.Random) -> Intent:
    kinds = sorted(product.facts)
    picked = rng.sample(kinds, min(len(kinds), 1 if rng.random() < 0.55 else 2))
    constraints: list[tuple[str, str]] = []
    for kind in picked:
        value = product.facts[kind]
        if kind in vocabulary().numeric_tolerance:
            value = _nominal(product.spec, kind, value)
        elif kind == "material":
            broader = [m for m in sorted(_material_lineage(value)) if m in product.spec.broader]
            if broader and rng.random() < 0.3:
                value = broader[0]
        constraints.append((kind, value))
    return Intent(product.spec.name, None, tuple(constraints))


@cache
def _canonical_words() -> frozenset[str]:
    """Every word of a class name, noun or attribute value (misspellings must avoid them)."""
    vocab = vocabulary()
    words: set[str] = set()
    for spec in vocab.classes:
        for text in (spec.name, spec.noun, *spec.alt_nouns, *spec.query_nouns):
            words.update(_TOKEN.findall(text.lower()))
    for table in (
        *_word_tables().values(),
        {k: v.words for k, v in vocab.sizes.items()},
        {k: m.words for k, m in vocab.materials.items()},
    ):
        for surfaces in table.values():
            for s in surfaces:
                words.update(_TOKEN.findall(s.lower()))
    return frozenset(words)


@cache
def _category_names() -> frozenset[str]:
    out: set[str] = set()
    for spec in vocabulary().classes:
        out.update(t.lower() for t in (spec.name, spec.noun, *spec.alt_nouns, *spec.query_nouns))
    return frozenset(out)


# ---- query makers -----------------------------------------------------------------------------

_BRAND_SUFFIXES = frozenset(
    {"home", "living", "co", "studio", "goods", "works", "house", "row", "lane"}
)

Maker = Callable[[CatalogIndex, random.Random], DraftQuery | None]


def _random_product(index: CatalogIndex, rng: random.Random) -> GenProduct:
    return index.products[rng.randrange(len(index.products))]


def _make_category(index: CatalogIndex, rng: random.Random) -> DraftQuery:
    spec = rng.choice(index.present_classes())
    text = rng.choice(spec.query_nouns)
    return DraftQuery(text, "category", Intent(spec.name), text)


def _brand_text(brand: str, rng: random.Random) -> str:
    words = brand.lower().replace(".", "").split()
    if len(words) > 1 and words[-1] in _BRAND_SUFFIXES and rng.random() < 0.3:
        words = words[:-1]
    return " ".join(words)


def _make_brand(index: CatalogIndex, rng: random.Random) -> DraftQuery:
    product = _random_product(index, rng)
    brand = _brand_text(product.brand, rng)
    if rng.random() < 0.45:
        return DraftQuery(brand, "brand", Intent(None, product.brand), brand)
    noun = rng.choice(_short_nouns(product.spec))
    text = f"{noun} by {brand}" if rng.random() < 0.15 else f"{brand} {noun}"
    return DraftQuery(text, "brand", Intent(product.spec.name, product.brand), text)


def _make_attribute(index: CatalogIndex, rng: random.Random) -> DraftQuery | None:
    product = _random_product(index, rng)
    if not product.facts:
        return None
    intent = _attribute_intent(product, rng)
    text = _attribute_text(product.spec, intent.constraints, rng)
    return DraftQuery(text, "attribute", intent, text)


def _make_descriptive(index: CatalogIndex, rng: random.Random) -> DraftQuery:
    spec = rng.choice(index.present_classes())
    text = rng.choice(spec.descriptive)
    return DraftQuery(text, "descriptive", Intent(spec.name), text)


def _make_misspelled(index: CatalogIndex, rng: random.Random) -> DraftQuery | None:
    base = _make_category(index, rng) if rng.random() < 0.6 else _make_attribute(index, rng)
    if base is None:
        return None
    text = misspell_text(base.text, rng, typos=1 if rng.random() < 0.7 else 2)
    if text == base.text or text in _category_names():
        return None
    canonical = _canonical_words()
    before = set(_TOKEN.findall(base.text.lower()))
    if any(w in canonical for w in _TOKEN.findall(text.lower()) if w not in before):
        return None
    return DraftQuery(text, "misspelled", base.intent, base.text)


def _wands_makers(rng: random.Random) -> Maker:
    pending = list(vocabulary().wands_queries)
    rng.shuffle(pending)

    def make(index: CatalogIndex, _rng: random.Random) -> DraftQuery | None:
        if not pending:
            return None
        w = pending.pop()
        return DraftQuery(w.text, "other", Intent(w.product_class, None, w.constraints), w.text)

    return make


def kind_quotas(total: int) -> dict[QueryKind, int]:
    """How many queries of each kind to make for ``total`` queries."""
    other = min(20, max(5, total // 20))
    shares: dict[QueryKind, int] = {
        "category": 2,
        "brand": 2,
        "attribute": 3,
        "descriptive": 2,
        "misspelled": 2,
    }
    rest = total - other
    out: dict[QueryKind, int] = {k: max(5, rest * s // 11) for k, s in shares.items()}
    out["attribute"] += max(0, rest - sum(out.values()))
    out["other"] = other
    return out


def build_queries(index: CatalogIndex, rng: random.Random, total: int) -> list[DraftQuery]:
    """About ``total`` distinct queries, each with at least one Exact product."""
    makers: dict[QueryKind, Maker] = {
        "other": _wands_makers(rng),
        "category": _make_category,
        "brand": _make_brand,
        "attribute": _make_attribute,
        "descriptive": _make_descriptive,
        "misspelled": _make_misspelled,
    }
    seen: set[str] = set()
    out: list[DraftQuery] = []
    for kind, quota in kind_quotas(total).items():
        make = makers[kind]
        made = 0
        for _ in range(quota * 40):
            if made >= quota:
                break
            draft = make(index, rng)
            if draft is None or draft.text in seen or not index.exact(draft.intent):
                continue
            seen.add(draft.text)
            out.append(draft)
            made += 1
    return out
