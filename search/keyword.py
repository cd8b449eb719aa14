"""The ``KeywordIndex`` seam: per-field BM25 over pre-analysed tokens.

Analysis happens once, in Python (:mod:`search.analysis`); backends index the tokens
as given (whitespace-separated), so every backend scores the same terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from kg.documents import ProductDocument
from search.analysis import Analyzer
from search.spelling import EditRule

__all__ = [
    "DEFAULT_FIELD_WEIGHTS",
    "FUZZY_SCORE",
    "KEYWORD_FIELDS",
    "KeywordDoc",
    "KeywordIndex",
    "keyword_doc",
]

#: The fields every keyword backend indexes, in a fixed order.
KEYWORD_FIELDS = ("name", "product_class", "category", "brand", "attributes", "description")

#: What a token matched only within its edit distance adds to a field's score (a constant
#: on both backends, so they agree; exact matches keep their BM25, typically 2-8 here).
FUZZY_SCORE = 0.5

#: Boosts for the combined (BM25F-like) recall score; chosen by hand, kept in the manifest.
DEFAULT_FIELD_WEIGHTS: Mapping[str, float] = {
    "name": 3.0,
    "product_class": 2.0,
    "category": 1.0,
    "brand": 2.0,
    "attributes": 1.5,
    "description": 1.0,
}


@dataclass(frozen=True, slots=True)
class KeywordDoc:
    """One product as the keyword index sees it: analysed tokens per field."""

    product_id: str
    fields: Mapping[str, str]  # field -> space-separated analysed tokens


@runtime_checkable
class KeywordIndex(Protocol):
    def upsert(self, docs: Sequence[KeywordDoc]) -> None:
        """Add or replace documents (by ``product_id``); visible after the call returns."""
        ...

    def delete(self, product_ids: Sequence[str]) -> None: ...

    def count(self) -> int: ...

    def search(
        self, tokens: Sequence[str], *, k: int, fuzzy: EditRule | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` (product_id, combined score) for any-token match, best first.

        With ``fuzzy``, a field that has no token exactly but a term within the rule's
        edit distance of one (``chair`` ~ an indexed ``chiar``) scores :data:`FUZZY_SCORE`
        for it; exact matches score BM25 as without it."""
        ...

    def field_scores(
        self,
        tokens: Sequence[str],
        product_ids: Sequence[str],
        *,
        fuzzy: EditRule | None = None,
    ) -> dict[str, dict[str, float]]:
        """BM25 of ``tokens`` in each field for the given products: field -> id -> score
        (plus :data:`FUZZY_SCORE` per token matched only fuzzily, with ``fuzzy``).

        A product absent from a field's dict has BM25 0 there (no token matched)."""
        ...

    def close(self) -> None: ...


def keyword_doc(doc: ProductDocument, analyzer: Analyzer) -> KeywordDoc:
    """Analyse a product's fields into a :class:`KeywordDoc`."""
    return KeywordDoc(
        doc.product_id,
        {
            "name": analyzer.text(doc.name),
            "product_class": analyzer.text(doc.product_class),
            "category": analyzer.text(" ".join(doc.category_path)),
            "brand": analyzer.text(doc.brand or ""),
            "attributes": analyzer.text(" ".join(f"{k} {v}" for k, v in doc.attributes.items())),
            "description": analyzer.text(doc.description),
        },
    )
