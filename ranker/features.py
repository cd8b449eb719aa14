"""Named features for the learned rankers, computed from a candidate set's signals.

A model is saved with its :class:`FeatureSchema` (the ordered names and a digest);
loading a model checks the schema against the registry, so a model trained on other
features is refused instead of scoring garbage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from ranker.candidates import Array, CandidateSet

__all__ = [
    "DEFAULT_FEATURES",
    "FEATURES",
    "NO_KG_FEATURES",
    "PERSONAL_FEATURES",
    "TOPIC_WORDS",
    "Feature",
    "FeatureSchema",
    "SchemaMismatch",
    "Wording",
    "feature_matrix",
]

FeatureGroup = Literal["keyword", "dense", "graph", "prior", "recall", "personal"]
_FIELDS = ("name", "product_class", "category", "brand", "attributes", "description")


class SchemaMismatch(ValueError):
    code = "feature_schema_mismatch"


@dataclass(frozen=True, slots=True)
class Wording:
    """How an explanation phrases a topic's part of a score for people (``search.explain``).

    ``present`` is used when the topic's lead feature is non-zero for the product,
    ``absent`` when it is zero; a phrase whose ``{placeholder}`` the explanation cannot
    fill (the query names no brand, say) gives way to ``otherwise``. Placeholders are
    filled from the product and the query: ``{terms}``, ``{terms_<field>}``,
    ``{keyword_rank}``, ``{cosine}``, ``{dense_rank}``, ``{expanded_by}``, ``{brand}``,
    ``{query_brand}``, ``{category}``, ``{query_category}``, ``{matched_attributes}``,
    ``{product_attributes}``, ``{query_attributes}``, ``{ratings}``, ``{rating}``,
    ``{price}``, ``{price_position}``, ``{kge_similarity}``, ``{attribute}``."""

    present: str
    absent: str = ""
    otherwise: str = ""


@dataclass(frozen=True, slots=True)
class Feature:
    name: str
    group: FeatureGroup
    description: str
    compute: Callable[[CandidateSet], Array]
    #: How a shopper reads the feature's part of a score, with ``{brand}``, ``{category}``
    #: or ``{attribute}`` to fill in from the product ("you often buy {brand}"); the
    #: personal features have one, the others leave it empty.
    label: str = ""
    #: The explanation line this feature's contribution is added to (its own name when
    #: empty): ``bm25``, ``bm25_norm`` and ``bm25_rr`` are all one "matches the words" line.
    topic: str = ""
    #: How that line reads; one feature per topic (its lead) carries the words.
    words: Wording | None = None

    @property
    def line(self) -> str:
        """The topic this feature's contribution is summed into."""
        return self.topic or self.name


def _signal(name: str) -> Callable[[CandidateSet], Array]:
    return lambda c: c.signal(name)


def _minmax(name: str) -> Callable[[CandidateSet], Array]:
    def compute(c: CandidateSet) -> Array:
        v = c.signal(name)
        lo, hi = float(v.min(initial=0.0)), float(v.max(initial=0.0))
        return (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)

    return compute


def _reciprocal_rank(name: str) -> Callable[[CandidateSet], Array]:
    def compute(c: CandidateSet) -> Array:
        v = c.signal(name)
        ranks = np.empty(len(v))
        ranks[np.argsort(-v, kind="stable")] = np.arange(1, len(v) + 1)
        return 1.0 / ranks

    return compute


def _features() -> dict[str, Feature]:
    specs: list[tuple[str, FeatureGroup, str, Callable[[CandidateSet], Array]]] = [
        ("bm25", "keyword", "field-weighted BM25", _signal("bm25")),
        ("bm25_norm", "keyword", "BM25 min-max normalised within the query", _minmax("bm25")),
        ("bm25_rr", "keyword", "1 / BM25 rank within the query", _reciprocal_rank("bm25")),
        *[
            (f"bm25_{f}", "keyword", f"BM25 in the {f} field", _signal(f"bm25_{f}"))
            for f in _FIELDS
        ],
        ("dense", "dense", "BERT cosine of query and product", _signal("dense")),
        ("dense_norm", "dense", "cosine min-max normalised within the query", _minmax("dense")),
        ("dense_rr", "dense", "1 / cosine rank within the query", _reciprocal_rank("dense")),
        ("from_keyword", "recall", "found by keyword recall", _signal("from_keyword")),
        ("from_dense", "recall", "found by dense recall", _signal("from_dense")),
        (
            "from_graph",
            "recall",
            "found through the query's linked entities",
            _signal("from_graph"),
        ),
        ("link_brand", "graph", "the query names a brand", _signal("link_brand")),
        ("link_category", "graph", "the query names a category", _signal("link_category")),
        ("link_attribute", "graph", "the query names attribute values", _signal("link_attribute")),
        (
            "match_brand",
            "graph",
            "product has the linked brand (confidence)",
            _signal("match_brand"),
        ),
        (
            "match_category",
            "graph",
            "category path agrees with a linked category",
            _signal("match_category"),
        ),
        (
            "match_attribute",
            "graph",
            "share of linked attribute values the product has",
            _signal("match_attribute"),
        ),
        (
            "contradict_attribute",
            "graph",
            "share of linked attribute values the product contradicts (another value of "
            "the same key: the query says blue, the product is green)",
            _signal("contradict_attribute"),
        ),
        ("kge_available", "graph", "KG embeddings scored this query", _signal("kge_available")),
        (
            "kge_brand",
            "graph",
            "KGE plausibility of (product, HAS_BRAND, brand)",
            _signal("kge_brand"),
        ),
        (
            "kge_category",
            "graph",
            "KGE plausibility of (product, IN_CATEGORY, category)",
            _signal("kge_category"),
        ),
        (
            "kge_attribute",
            "graph",
            "KGE plausibility of (product, HAS_ATTRIBUTE, value)",
            _signal("kge_attribute"),
        ),
        (
            "kge_similarity",
            "graph",
            "embedding cosine of product and linked entities",
            _signal("kge_similarity"),
        ),
        ("popularity", "prior", "log(1 + rating count)", _signal("popularity")),
        ("rating", "prior", "average rating (0 when none)", _signal("rating")),
        ("has_rating", "prior", "the product has ratings", _signal("has_rating")),
        (
            "price_z",
            "prior",
            "log-price z-score among the candidates (price fit)",
            _signal("price_z"),
        ),
        ("has_price", "prior", "the product has a price", _signal("has_price")),
    ]
    features = {
        name: Feature(name, group, desc, fn, topic=_TOPIC.get(name, ""), words=_WORDS.get(name))
        for name, group, desc, fn in specs
    }
    features.update({f.name: f for f in _personal_features()})
    return features


_FIELD_WORDS = {
    "name": "title",
    "product_class": "product type",
    "category": "category path",
    "brand": "brand name",
    "attributes": "attributes",
    "description": "description",
}

#: Features summed into another feature's explanation line (see :attr:`Feature.topic`).
_TOPIC: dict[str, str] = {
    **dict.fromkeys(("bm25_norm", "bm25_rr", "from_keyword"), "bm25"),
    **dict.fromkeys(("dense_norm", "dense_rr", "from_dense"), "dense"),
    **dict.fromkeys(("link_brand", "kge_brand"), "match_brand"),
    **dict.fromkeys(("link_category", "kge_category"), "match_category"),
    **dict.fromkeys(("link_attribute", "kge_attribute", "contradict_attribute"), "match_attribute"),
    "kge_available": "kge_similarity",
    "has_rating": "popularity",
    "price_z": "has_price",
}

#: The words of each line's lead feature.
_WORDS: dict[str, Wording] = {
    "bm25": Wording(
        "matches {terms} (keyword rank {keyword_rank})", "matches none of the query's words"
    ),
    **{
        f"bm25_{f}": Wording(
            f"{word} matches {{terms_{f}}}",
            f"no query word in the {word}",
            f"{word} matches a query word loosely (a near spelling or a synonym)",
        )
        for f, word in _FIELD_WORDS.items()
    },
    "dense": Wording("close in meaning to the query (cosine {cosine}, dense rank {dense_rank})"),
    "from_graph": Wording(
        "found through {expanded_by}, which the query names",
        "not found through the query's linked entities",
    ),
    "match_brand": Wording(
        "by {brand}, the brand the query names",
        "brand is {brand}; the query names {query_brand}",
        "the query names no brand",
    ),
    "match_category": Wording(
        "in {category}, the category the query names",
        "in {category}; the query names {query_category}",
        "the query names no category",
    ),
    "match_attribute": Wording(
        "has {matched_attributes}, as the query asks",
        "{product_attributes}; the query asks for {query_attributes}",
        "the query names no attribute value",
    ),
    "kge_similarity": Wording(
        "near the query's entities in the graph embedding ({kge_similarity})",
        "not near the query's entities in the graph embedding",
        "no graph embedding for this query",
    ),
    "popularity": Wording("popular: {ratings} ratings", "no ratings yet"),
    "rating": Wording("rated {rating}/5", "not rated"),
    "has_price": Wording("priced {price}, {price_position}", "no price"),
}


def _personal_features() -> list[Feature]:
    """User features: how a product fits one shopper's profile (``search.personal``).

    Their signals exist only when a search is made for a shopper with a profile
    (``search.personal_signals``); the query-only rankers never use them."""
    specs = [
        (
            "personal_brand",
            "affinity of the shopper to the product's brand, in [0, 1]",
            "you often choose {brand}",
        ),
        (
            "personal_category",
            "strongest affinity of the shopper to a level of the product's category path",
            "you often shop for {category}",
        ),
        (
            "personal_attribute",
            "strongest affinity of the shopper to one of the product's attribute values",
            "you like {attribute}",
        ),
        (
            "personal_price_fit",
            "|log price - the shopper's price centre| / price spread (0 when unknown)",
            "fits the prices you usually pay",
        ),
        (
            "personal_price_gap",
            "(log price - the shopper's price centre) / price spread, signed (0 when unknown)",
            "priced unlike what you usually pay",
        ),
        (
            "personal_seen",
            "the shopper viewed, clicked or carted the product",
            "you looked at this",
        ),
        ("personal_bought", "the shopper bought the product", "you bought this before"),
    ]
    return [
        Feature(name, "personal", desc, _signal(name), label, words=Wording(label))
        for name, desc, label in specs
    ]


FEATURES: Mapping[str, Feature] = _features()
#: What the query-only rankers are trained on: every feature but the personal ones.
DEFAULT_FEATURES: tuple[str, ...] = tuple(n for n, f in FEATURES.items() if f.group != "personal")
NO_KG_FEATURES: tuple[str, ...] = tuple(
    n for n in DEFAULT_FEATURES if FEATURES[n].group != "graph" and n != "from_graph"
)
PERSONAL_FEATURES: tuple[str, ...] = tuple(n for n, f in FEATURES.items() if f.group == "personal")
#: Each explanation line's words, by topic (the lead feature's :class:`Wording`).
TOPIC_WORDS: Mapping[str, Wording] = {f.line: f.words for f in FEATURES.values() if f.words}


@dataclass(frozen=True, slots=True)
class FeatureSchema:
    names: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [n for n in self.names if n not in FEATURES]
        if unknown:
            raise SchemaMismatch(
                f"unknown feature(s) {unknown}; the registry has {sorted(FEATURES)}"
            )
        if len(set(self.names)) != len(self.names):
            raise SchemaMismatch("feature names repeat")

    @property
    def digest(self) -> str:
        return schema_digest(self.names)

    def check(self, names: Sequence[str], digest: str) -> None:
        """Raise unless a saved model's schema is this one."""
        check_schema(self.names, names, digest, what="model", retrain="`kgsearch train-ranker`")


def schema_digest(names: Sequence[str]) -> str:
    """A short fingerprint of an ordered feature list, saved beside a trained model."""
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]


def check_schema(
    expected: Sequence[str], names: Sequence[str], digest: str, *, what: str, retrain: str
) -> None:
    """Raise :class:`SchemaMismatch` unless a saved model's feature ``names`` and ``digest``
    are ``expected``'s; the message names what differs and how to ``retrain``."""
    if tuple(names) != tuple(expected) or digest != schema_digest(expected):
        missing = sorted(set(expected) - set(names))
        extra = sorted(set(names) - set(expected))
        raise SchemaMismatch(
            f"{what} was trained on another feature schema (missing {missing}, extra "
            f"{extra}, digest {digest} != {schema_digest(expected)}); retrain it with "
            f"{retrain}"
        )


def feature_matrix(candidates: CandidateSet, schema: FeatureSchema) -> npt.NDArray[np.float32]:
    """(n candidates, n features); raises if a feature is NaN or infinite."""
    columns = [FEATURES[name].compute(candidates) for name in schema.names]
    matrix = (
        np.column_stack(columns).astype(np.float32)
        if columns
        else np.zeros((len(candidates), 0), np.float32)
    )
    if not np.isfinite(matrix).all():
        bad = [
            n for n, col in zip(schema.names, columns, strict=True) if not np.isfinite(col).all()
        ]
        raise ValueError(f"feature(s) {bad} have NaN or infinite values")
    return matrix
