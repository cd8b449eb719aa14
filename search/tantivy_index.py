"""Embedded ``KeywordIndex`` on tantivy (a Rust Lucene-like library), one index per directory."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import tantivy

from search.keyword import DEFAULT_FIELD_WEIGHTS, FUZZY_SCORE, KEYWORD_FIELDS, KeywordDoc
from search.spelling import EditRule

__all__ = ["TantivyKeywordIndex"]

_ID = "product_id"


def _schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field(_ID, stored=True, tokenizer_name="raw", fast=True)
    for field in KEYWORD_FIELDS:
        builder.add_text_field(
            field, stored=False, tokenizer_name="whitespace", index_option="freq"
        )
    return builder.build()


class TantivyKeywordIndex:
    """Per-field BM25 with tantivy; ``path=None`` keeps the index in memory."""

    def __init__(
        self,
        *,
        path: Path | None = None,
        field_weights: Mapping[str, float] = DEFAULT_FIELD_WEIGHTS,
        writer_heap_bytes: int = 128_000_000,
    ) -> None:
        unknown = set(field_weights) - set(KEYWORD_FIELDS)
        if unknown:
            raise ValueError(f"unknown field(s) {sorted(unknown)}; fields are {KEYWORD_FIELDS}")
        if any(w < 0 for w in field_weights.values()):
            raise ValueError("field weights must be >= 0")
        self._weights = {f: float(field_weights.get(f, 0.0)) for f in KEYWORD_FIELDS}
        self._schema = _schema()
        if path is not None:
            path.mkdir(parents=True, exist_ok=True)
            self._index = tantivy.Index(self._schema, path=str(path), reuse=True)
        else:
            self._index = tantivy.Index(self._schema)
        self._heap = writer_heap_bytes
        self._lock = threading.Lock()
        self._index.reload()
        self._searcher = self._index.searcher()
        self._known: tuple[tantivy.Searcher | None, dict[tuple[int, int], str]] = (None, {})

    # -- writes ---------------------------------------------------------------------------

    def _write(self, docs: Sequence[KeywordDoc], delete: Sequence[str]) -> None:
        with self._lock:
            writer = self._index.writer(self._heap, 1)
            try:
                for pid in [*delete, *(d.product_id for d in docs)]:
                    writer.delete_documents_by_term(_ID, pid)
                for doc in docs:
                    missing = set(KEYWORD_FIELDS) - set(doc.fields)
                    if missing:
                        raise ValueError(
                            f"document {doc.product_id!r} lacks fields {sorted(missing)}"
                        )
                    writer.add_document(tantivy.Document(**{_ID: doc.product_id}, **doc.fields))
                writer.commit()
                writer.wait_merging_threads()
            except BaseException:
                writer.rollback()
                raise
            self._index.reload()
            self._searcher = self._index.searcher()

    def upsert(self, docs: Sequence[KeywordDoc]) -> None:
        self._write(docs, ())

    def delete(self, product_ids: Sequence[str]) -> None:
        self._write((), product_ids)

    def count(self) -> int:
        return int(self._searcher.num_docs)

    # -- reads ----------------------------------------------------------------------------

    def _field_query(
        self, field: str, tokens: Sequence[str], fuzzy: EditRule | None = None
    ) -> tantivy.Query:
        clauses = []
        for t in dict.fromkeys(tokens):
            exact = tantivy.Query.term_query(self._schema, field, t)
            clauses.append((tantivy.Occur.Should, exact))
            edits = fuzzy.max_edits(t) if fuzzy is not None else 0
            if edits:
                # Tantivy scores a fuzzy term query as a constant (its boost): only the
                # documents without the exact term get it, so exact BM25 is unchanged.
                near = tantivy.Query.fuzzy_term_query(
                    self._schema, field, t, distance=edits, transposition_cost_one=True
                )
                only_near = tantivy.Query.boolean_query(
                    [(tantivy.Occur.Must, near), (tantivy.Occur.MustNot, exact)]
                )
                clauses.append(
                    (tantivy.Occur.Should, tantivy.Query.boost_query(only_near, FUZZY_SCORE))
                )
        return tantivy.Query.boolean_query(clauses)

    def _ids(
        self, searcher: tantivy.Searcher, hits: list[tuple[float, tantivy.DocAddress]]
    ) -> list[tuple[str, float]]:
        """(product id, score) of each hit. Loading a stored document to read its id costs
        more than the search at ~1,000 hits a request, so ids are remembered per searcher
        (an address means the same document until the next reload)."""
        owner, known = self._known  # one read: another thread may swap it meanwhile
        if owner is not searcher:
            known = {}
            self._known = (searcher, known)
        out = []
        for score, addr in hits:
            key = (addr.segment_ord, addr.doc)
            pid = known.get(key)
            if pid is None:
                pid = known[key] = searcher.doc(addr)[_ID][0]
            out.append((pid, float(score)))
        return out

    def search(
        self, tokens: Sequence[str], *, k: int, fuzzy: EditRule | None = None
    ) -> list[tuple[str, float]]:
        if k < 1:
            raise ValueError("k must be >= 1")
        if not tokens:
            return []
        clauses = [
            (
                tantivy.Occur.Should,
                tantivy.Query.boost_query(self._field_query(f, tokens, fuzzy), w),
            )
            for f, w in self._weights.items()
            if w > 0
        ]
        searcher = self._searcher
        result = searcher.search(tantivy.Query.boolean_query(clauses), k, count=False)
        return self._ids(searcher, result.hits)

    def field_scores(
        self,
        tokens: Sequence[str],
        product_ids: Sequence[str],
        *,
        fuzzy: EditRule | None = None,
    ) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {f: {} for f in KEYWORD_FIELDS}
        if not tokens or not product_ids:
            return out
        searcher = self._searcher
        only = tantivy.Query.const_score_query(
            tantivy.Query.term_set_query(self._schema, _ID, list(product_ids)), 0.0
        )
        terms = list(dict.fromkeys(tokens))
        for field in KEYWORD_FIELDS:
            if fuzzy is None and not any(searcher.doc_freq(field, t) for t in terms):
                continue  # no product has any query term in this field: every score is 0
            query = tantivy.Query.boolean_query(
                [
                    (tantivy.Occur.Must, self._field_query(field, tokens, fuzzy)),
                    (tantivy.Occur.Must, only),
                ]
            )
            hits = searcher.search(query, len(product_ids), count=False).hits
            out[field] = dict(self._ids(searcher, hits))
        return out

    def close(self) -> None:
        """Nothing to release: tantivy closes files when the index is dropped."""
