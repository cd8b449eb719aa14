"""The seeded demo-catalogue generator: determinism, shape, label integrity and noise."""

from __future__ import annotations

import csv
import re
import statistics
from collections import Counter, defaultdict

import pytest
from conftest import find_wands_queries

from ingest.records import Grade
from synthetic.generator import SIZES, GeneratedCatalog, generate_catalog, split_for
from synthetic.vocab import ClassSpec, vocabulary

VOCAB = vocabulary()
CLASSES, RELATED = VOCAB.classes, VOCAB.related
COLOR_WORDS, WANDS_QUERIES = VOCAB.color_words, VOCAB.wands_queries
KINDS = ("category", "brand", "attribute", "descriptive", "misspelled", "other")
SPLITS = ("train", "valid", "test")
SPECS = {c.name: c for c in CLASSES}
WANDS_QUERY_CSV = find_wands_queries()


@pytest.fixture(scope="module")
def tiny() -> GeneratedCatalog:
    return generate_catalog(size="tiny")


@pytest.fixture(scope="module")
def mid() -> GeneratedCatalog:
    return generate_catalog(size=1_000, seed=7)


@pytest.fixture(scope="module", params=["tiny", "mid"])
def catalog(
    request: pytest.FixtureRequest, tiny: GeneratedCatalog, mid: GeneratedCatalog
) -> GeneratedCatalog:
    return tiny if request.param == "tiny" else mid


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def _grades(cat: GeneratedCatalog) -> dict[str, dict[str, Grade]]:
    out: dict[str, dict[str, Grade]] = defaultdict(dict)
    for label in cat.labels:
        out[label.query_id][label.product_id] = label.grade
    return out


# ---- determinism and sizes ----------------------------------------------------------------------


def test_same_seed_same_catalogue(tiny: GeneratedCatalog) -> None:
    again = generate_catalog(size="tiny", seed=13)
    assert again == tiny
    assert generate_catalog(size=200) == tiny  # "tiny" is just 200 products


def test_other_seed_other_catalogue(tiny: GeneratedCatalog) -> None:
    other = generate_catalog(size="tiny", seed=14)
    assert [p.name for p in other.products] != [p.name for p in tiny.products]
    assert [q.query for q in other.queries] != [q.query for q in tiny.queries]


def test_sizes(tiny: GeneratedCatalog, mid: GeneratedCatalog) -> None:
    assert SIZES == {"tiny": 200, "demo": 5_000, "bench": 50_000}
    assert len(tiny.products) == 200
    assert 35 <= len(tiny.queries) <= 45
    assert len(mid.products) == 1_000
    assert len(mid.queries) > len(tiny.queries)
    assert len(generate_catalog(size=20).products) == 20


@pytest.mark.parametrize("bad", [19, 0, -5, 500_001, "huge", True])
def test_invalid_size_is_rejected(bad: object) -> None:
    with pytest.raises(ValueError, match="size"):
        generate_catalog(size=bad)  # type: ignore[arg-type]


def test_range_is_named_in_the_error() -> None:
    with pytest.raises(ValueError, match=r"between 20 and 500,000"):
        generate_catalog(size=10)


def test_progress_reports_up_to_total() -> None:
    calls: list[tuple[int, int]] = []
    generate_catalog(size=300, progress=lambda done, total: calls.append((done, total)))
    assert calls, "progress was never called"
    assert calls[-1] == (300, 300)
    assert all(total == 300 for _, total in calls)
    dones = [d for d, _ in calls]
    assert dones == sorted(dones)


# ---- records ---------------------------------------------------------------------------


def test_ids_are_unique_and_well_formed(catalog: GeneratedCatalog) -> None:
    pids = [p.product_id for p in catalog.products]
    qids = [q.query_id for q in catalog.queries]
    assert len(set(pids)) == len(pids)
    assert len(set(qids)) == len(qids)
    assert all(re.fullmatch(r"P\d{6}", p) for p in pids)
    assert all(re.fullmatch(r"Q\d{4}", q) for q in qids)
    assert len({q.query for q in catalog.queries}) == len(catalog.queries)


def test_products_look_like_a_catalogue(catalog: GeneratedCatalog) -> None:
    for p in catalog.products:
        spec = SPECS[p.product_class]
        assert 2 <= len(p.category_path) <= 4
        assert p.category_path == spec.path[: len(p.category_path)]
        assert len(p.category_path) >= len(spec.path) - 1
        assert 3 <= len(p.features) <= 8, p.features
        assert 1 <= p.description.count(".") + p.description.count("?") <= 6
        assert p.brand
        assert p.price is not None and spec.price[0] - 1 <= p.price <= spec.price[1] + 1
        assert p.review_count <= p.rating_count
        assert (p.average_rating is None) == (p.rating_count == 0)
        if p.average_rating is not None:
            assert 1 <= p.average_rating <= 5


def test_catalogue_covers_classes_and_brands(mid: GeneratedCatalog) -> None:
    assert {p.product_class for p in mid.products} == set(SPECS)
    brands = Counter(p.brand for p in mid.products)
    assert len(brands) >= 80
    # A brand sells in a few departments, not everywhere.
    depts: dict[str, set[str]] = defaultdict(set)
    for p in mid.products:
        assert p.brand is not None
        depts[p.brand].add(p.category_path[0])
    assert max(len(d) for d in depts.values()) <= 3


def test_popularity_is_skewed(mid: GeneratedCatalog) -> None:
    counts = [p.rating_count for p in mid.products]
    rated = [c for c in counts if c > 0]
    assert 0.1 < counts.count(0) / len(counts) < 0.5
    assert max(rated) >= 20 * statistics.median(rated)


# ---- queries and labels --------------------------------------------------------------------------


def test_every_kind_and_split_is_well_represented(catalog: GeneratedCatalog) -> None:
    kinds: Counter[str | None] = Counter(q.kind for q in catalog.queries)
    splits: Counter[str | None] = Counter(q.split for q in catalog.queries)
    for kind in KINDS:
        assert kinds[kind] >= 5, kinds
    for split in SPLITS:
        assert splits[split] >= 5, splits
    assert splits["train"] > splits["valid"]


def test_split_is_a_stable_hash_of_the_query_id(catalog: GeneratedCatalog) -> None:
    for q in catalog.queries:
        assert q.split == split_for(q.query_id)
    many = Counter(split_for(f"Q{i:04d}") for i in range(1, 5_001))
    assert 0.55 < many["train"] / 5_000 < 0.65
    assert 0.17 < many["valid"] / 5_000 < 0.23
    assert 0.17 < many["test"] / 5_000 < 0.23


def test_labels_reference_existing_rows_once(catalog: GeneratedCatalog) -> None:
    pids = {p.product_id for p in catalog.products}
    qids = {q.query_id for q in catalog.queries}
    pairs = [(label.query_id, label.product_id) for label in catalog.labels]
    assert len(set(pairs)) == len(pairs)
    assert {q for q, _ in pairs} <= qids
    assert {p for _, p in pairs} <= pids


def test_every_query_has_an_exact_product(catalog: GeneratedCatalog) -> None:
    grades = _grades(catalog)
    for q in catalog.queries:
        assert Grade.EXACT in grades[q.query_id].values(), q


def test_grades_follow_the_query_class(catalog: GeneratedCatalog) -> None:
    products = {p.product_id: p for p in catalog.products}
    grades = _grades(catalog)
    related_partials = 0
    for q in catalog.queries:
        if not q.query_class:
            assert q.kind == "brand"  # a brand on its own: anything the brand sells
            continue
        near = {q.query_class, *RELATED.get(q.query_class, ())}
        for pid, grade in grades[q.query_id].items():
            cls = products[pid].product_class
            if grade == Grade.EXACT:
                assert cls == q.query_class
            elif grade == Grade.PARTIAL:
                assert cls in near
                related_partials += cls != q.query_class
            else:
                assert cls not in near
    assert related_partials > 0


def test_partials_are_capped() -> None:
    cat = generate_catalog(size=3_000, seed=3)
    per = Counter(label.query_id for label in cat.labels if label.grade == Grade.PARTIAL)
    irrelevant = Counter(label.query_id for label in cat.labels if label.grade == Grade.IRRELEVANT)
    assert max(per.values()) <= 300
    assert max(irrelevant.values()) <= 30
    assert min(irrelevant[q.query_id] for q in cat.queries) >= 5


def test_brand_queries_name_their_brand(catalog: GeneratedCatalog) -> None:
    products = {p.product_id: p for p in catalog.products}
    grades = _grades(catalog)
    for q in (q for q in catalog.queries if q.kind == "brand"):
        exact = [products[p] for p, g in grades[q.query_id].items() if g == Grade.EXACT]
        brands = {p.brand for p in exact}
        assert len(brands) == 1
        brand = brands.pop()
        assert brand is not None
        assert brand.lower().split()[0] in q.query


def test_misspelled_queries_are_not_category_names(catalog: GeneratedCatalog) -> None:
    canonical = {
        text.lower() for c in CLASSES for text in (c.name, c.noun, *c.alt_nouns, *c.query_nouns)
    }
    misspelled = [q for q in catalog.queries if q.kind == "misspelled"]
    assert misspelled
    for q in misspelled:
        assert q.query not in canonical
        assert q.query_class
    # At least one word of each is not a word of its class's own vocabulary.
    for q in misspelled:
        spec = SPECS[q.query_class]
        vocab = _words(" ".join((spec.name, spec.noun, *spec.alt_nouns, *spec.query_nouns)))
        assert _words(q.query) - vocab


def _head_nouns(spec: ClassSpec) -> set[str]:
    """The head word of the class name and of every noun naming its products ("chair")."""
    heads = {text.lower().split()[-1] for text in (spec.name, spec.noun, *spec.alt_nouns)}
    return heads | {h + "s" for h in heads} | {h[:-1] for h in heads if h.endswith("s")}


def test_descriptive_queries_avoid_the_class_nouns(catalog: GeneratedCatalog) -> None:
    descriptive = [q for q in catalog.queries if q.kind == "descriptive"]
    assert descriptive
    for q in descriptive:
        clash = _words(q.query) & _head_nouns(SPECS[q.query_class])
        assert not clash, (q.query, clash)


def test_descriptive_templates_avoid_their_class_nouns() -> None:
    for spec in CLASSES:
        assert len(spec.descriptive) >= 3, spec.name
        for text in spec.descriptive:
            clash = _words(text) & _head_nouns(spec)
            assert not clash, (spec.name, text, clash)


def test_wands_queries_are_real(tiny: GeneratedCatalog) -> None:
    others = [q for q in tiny.queries if q.kind == "other"]
    known = {w.text: w.product_class for w in WANDS_QUERIES}
    for q in others:
        assert known[q.query] == q.query_class
    if WANDS_QUERY_CSV is None:
        pytest.skip("shared WANDS query.csv not available")
    with WANDS_QUERY_CSV.open(newline="", encoding="utf-8") as fh:
        rows = {int(r["query_id"]): r for r in csv.DictReader(fh, delimiter="\t")}
    for w in WANDS_QUERIES:
        assert rows[w.wands_id]["query"] == w.text
        assert rows[w.wands_id]["query_class"] == w.product_class


# ---- noise -----------------------------------------------------------------------------


def test_exact_products_often_lack_the_query_words_in_their_name(mid: GeneratedCatalog) -> None:
    products = {p.product_id: p for p in mid.products}
    grades = _grades(mid)
    missing = total = 0
    for q in (q for q in mid.queries if q.kind == "attribute"):
        spec = SPECS[q.query_class]
        attribute_words = _words(q.query) - _words(" ".join(spec.query_nouns))
        for pid, grade in grades[q.query_id].items():
            if grade == Grade.EXACT and attribute_words:
                total += 1
                missing += not attribute_words <= _words(products[pid].name)
    assert total > 50
    assert missing / total > 0.3


def test_colour_is_in_the_name_only_sometimes(mid: GeneratedCatalog) -> None:
    coloured = [p for p in mid.products if "color" in p.features]
    in_name = sum(p.features["color"].lower() in p.name.lower() for p in coloured)
    assert 0.15 < in_name / len(coloured) < 0.7


def test_class_nouns_are_often_synonyms(mid: GeneratedCatalog) -> None:
    canonical = sum(p.name.endswith(SPECS[p.product_class].noun) for p in mid.products)
    assert 0.4 < canonical / len(mid.products) < 0.9
    synonyms = [
        p for p in mid.products if p.product_class == "Sofas" and not p.name.endswith("Sofa")
    ]
    assert synonyms


def test_descriptions_carry_decoy_colours(mid: GeneratedCatalog) -> None:
    families = {w: fam for fam, words in COLOR_WORDS.items() for w in words if " " not in w}
    decoys = 0
    for p in mid.products:
        colour = p.features.get("color", "").lower()
        if not colour:
            continue
        mentioned = {families[w] for w in _words(p.description) if w in families}
        decoys += any(colour not in COLOR_WORDS[f] for f in mentioned)
    assert decoys >= 0.03 * len(mid.products)


def test_some_names_have_typos(mid: GeneratedCatalog) -> None:
    vocab: set[str] = set()
    for spec in CLASSES:
        vocab |= _words(" ".join((spec.noun, *spec.alt_nouns, *spec.modifiers)))
    last_words = Counter(p.name.split()[-1].lower() for p in mid.products)
    typos = sum(n for w, n in last_words.items() if w not in vocab and w.isalpha())
    assert typos > 0
