"""The search service: query -> recall (keyword ∪ dense) -> signals -> ranker -> hits.

Every hit carries every signal's value and, when asked (``explain=True``), the ranker's
per-signal contributions, so a merchandiser can see why a product is where it is; a
shopper's page does not pay for them (TreeSHAP is most of a LambdaMART search's time).
A ranker that fails at query time is replaced by RRF for that request, and the response
says so (``degraded``).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import repeat

import numpy as np

from kg.documents import ProductDocument
from ranker.candidates import CandidateSet
from ranker.exposure import cap_brands
from ranker.fusion import TIE_BREAK, Ranker, RRFRanker, tie_order
from ranker.personal import PersonalModel
from search.analysis import Analyzer
from search.encoder import Encoder, product_text
from search.filters import FilterIndex, Filters
from search.graph_signals import GraphSignals, QueryGraph
from search.keyword import DEFAULT_FIELD_WEIGHTS, KEYWORD_FIELDS, KeywordIndex, keyword_doc
from search.personal import ShopperProfile
from search.personal_signals import with_personal_signals
from search.rules import NO_RULES, Applied, RuleSet
from search.sources import RecallSources, sources_for
from search.spelling import Correction, EditRule, SpellCorrector
from search.vector import VectorIndex

__all__ = [
    "TIE_BREAK",
    "Hit",
    "InvalidQuery",
    "SearchResult",
    "SearchService",
    "Snapshot",
    "tie_order",
    "validate_query",
]

log = logging.getLogger(__name__)

MAX_QUERY_CHARS = 1_000
MAX_K = 1_000
FACET_SIZE = 10


class InvalidQuery(ValueError):
    """A request the service refuses; ``field`` names the offending parameter."""

    code = "invalid_query"

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def validate_query(query: str) -> str:
    """Return the query stripped, or raise :class:`InvalidQuery` saying what is wrong."""
    if not isinstance(query, str):
        raise InvalidQuery("q", "query must be a string")
    if len(query) > MAX_QUERY_CHARS:
        raise InvalidQuery("q", f"query is {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
    control = [c for c in query if unicodedata.category(c) in ("Cc", "Cf") and c not in " "]
    if control:
        raise InvalidQuery(
            "q", f"query contains control character U+{ord(control[0]):04X}; remove it"
        )
    stripped = query.strip()
    if not stripped:
        raise InvalidQuery("q", "query is empty; type at least one word")
    return stripped


@dataclass(frozen=True, slots=True)
class Hit:
    product_id: str
    rank: int
    score: float
    name: str
    brand: str | None
    product_class: str
    category_path: tuple[str, ...]
    price: float | None
    average_rating: float | None
    signals: Mapping[str, float]
    contributions: Mapping[str, float]
    paths: tuple[tuple[str, ...], ...] = ()  # (product, relation, entity) facts matching the query


@dataclass(frozen=True, slots=True)
class SearchResult:
    query: str
    tokens: tuple[str, ...]
    ranker: str
    total: int
    offset: int
    k: int
    hits: tuple[Hit, ...]
    facets: Mapping[str, Sequence[tuple[str, int]]]
    took_ms: float
    degraded: bool = False
    notes: tuple[str, ...] = field(default=())
    entities: tuple[tuple[str, str, float], ...] = ()  # (entity id, span, confidence) linked
    personalised: bool = False  # the personal stage added to the scores (see ranker.personal)
    rules: Mapping[str, str] = field(default_factory=dict)  # rule:<id> -> its words
    corrected_query: str | None = None  # what was searched instead of ``query`` (spelling)
    explained: bool = False  # hits carry their contributions (``explain=True``)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a search reads about the catalogue: documents, filter postings and graph facts
    of one moment. ``apply`` builds a new one and swaps it in whole; a search takes one at
    its start and reads only that, so an edit landing mid-search can neither show it half
    an edit nor make it look up a product that has just gone. ``generation`` is how many
    applies had begun when it was made."""

    documents: Mapping[str, ProductDocument]
    filters: FilterIndex
    graph: GraphSignals | None
    generation: int


class FailureLog:
    """Logs a repeating failure without flooding the log: the first of each kind (what
    failed, and the exception's type) with its traceback, then one line at the 10th,
    100th, 1,000th... time with the count. A ranker that fails on every request would
    otherwise write a traceback per search."""

    def __init__(self, message: str) -> None:
        self._message = message  # one %s: what failed
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def record(self, what: str, exc: BaseException) -> int:
        """Count one failure of ``what`` (log it as above); returns its count so far."""
        with self._lock:
            key = (what, type(exc).__name__)
            self._counts[key] += 1
            count = self._counts[key]
        if count == 1:
            log.error(self._message, what, exc_info=exc)
        elif _power_of_ten(count):
            log.error(self._message + " (%d times so far; last: %s)", what, count, exc)
        return count


def _power_of_ten(n: int) -> bool:
    while n >= 10 and n % 10 == 0:
        n //= 10
    return n == 1


class SearchService:
    """Hybrid search over one index version. Thread-safe for reads."""

    def __init__(
        self,
        *,
        keyword: KeywordIndex,
        vectors: VectorIndex,
        encoder: Encoder,
        analyzer: Analyzer,
        documents: Sequence[ProductDocument],
        ranker: Ranker,
        field_weights: Mapping[str, float] = DEFAULT_FIELD_WEIGHTS,
        recall_k: int = 200,
        dense_min_score: float = 0.2,
        graph: GraphSignals | None = None,
        personal: PersonalModel | None = None,
        spelling: SpellCorrector | None = None,
        fuzzy: EditRule | None = None,
    ) -> None:
        if not 1 <= recall_k <= 10_000:
            raise ValueError("recall_k must be between 1 and 10000")
        if not -1.0 <= dense_min_score <= 1.0:
            raise ValueError("dense_min_score is a cosine, between -1 and 1")
        self.keyword, self.vectors, self.encoder, self.analyzer = (
            keyword,
            vectors,
            encoder,
            analyzer,
        )
        #: How a search reads both indexes: one ``_msearch`` per read on Elasticsearch.
        self.sources: RecallSources = sources_for(keyword, vectors)
        self.ranker = ranker
        self._state = Snapshot(
            {d.product_id: d for d in documents}, FilterIndex(documents), graph, 0
        )
        self._begun = 0  # applies begun; a search whose snapshot is older raced an edit
        self._weights = np.array([field_weights.get(f, 0.0) for f in KEYWORD_FIELDS])
        self.recall_k = recall_k
        self.dense_min_score = dense_min_score
        self._fallback = RRFRanker()
        self._ranker_failures = FailureLog("ranker %s failed; results ranked by rrf")
        self.personal = personal  # the personal stage over ``ranker``, when trained
        self.rules: RuleSet = NO_RULES  # published merchandising rules, swapped whole
        self._write_lock = threading.Lock()
        #: Query words no product uses are corrected to catalogue words (``search.spelling``)
        #: and, with ``fuzzy`` (e.g. ``DEFAULT_EDIT_RULE``), keyword terms also match
        #: indexed terms within their edit distance; ``exact=True`` on a search turns both
        #: off. Fuzzy matching is off by default: on the demo catalogue's valid split it
        #: added nothing over correction alone and cost 4.5 ms of p50 (docs/results.md).
        self.spelling = spelling or SpellCorrector(documents, analyzer=analyzer)
        self.fuzzy = fuzzy

    @property
    def snapshot(self) -> Snapshot:
        """The catalogue state a search starting now reads."""
        return self._state

    @property
    def documents(self) -> Mapping[str, ProductDocument]:
        """The documents of the current snapshot (a later edit swaps in new ones)."""
        return self._state.documents

    @property
    def live_documents(self) -> Mapping[str, ProductDocument]:
        """The documents as of each read: for a holder that must see later edits (the
        shoppers' profiles), where :attr:`documents` is one snapshot's."""
        return _LiveDocuments(self)

    @property
    def filters(self) -> FilterIndex:
        return self._state.filters

    @property
    def graph(self) -> GraphSignals | None:
        return self._state.graph

    # -- incremental updates (catalog edits) -------------------------------------------------

    def apply(self, upserts: Sequence[ProductDocument], deletes: Sequence[str]) -> None:
        """Make edited products searchable (and deleted ones gone) without a reindex:
        keyword index and vectors first, then one new :class:`Snapshot` of documents,
        filters and graph facts swapped in at once. Searches that started before see the
        old snapshot; ids the indexes return that it does not know are dropped."""
        with self._write_lock:
            state = self._state
            self._begun += 1
            if deletes:
                self.keyword.delete(deletes)
                self.vectors.delete(deletes)
            if upserts:
                self.keyword.upsert([keyword_doc(d, self.analyzer) for d in upserts])
                texts = [product_text(d) for d in upserts]
                self.vectors.upsert([d.product_id for d in upserts], self.encoder.encode(texts))
            documents = _copied(state.documents)
            for pid in deletes:
                documents.pop(pid, None)
            documents.update({d.product_id: d for d in upserts})
            self._state = Snapshot(
                documents,
                state.filters.updated(upserts, deletes),
                state.graph.updated(upserts, deletes) if state.graph is not None else None,
                self._begun,
            )
            self.spelling.update(upserts, deletes, before=state.documents)

    # -- recall and signals ----------------------------------------------------------------

    def candidates(
        self, query: str, filters: Filters | None = None, *, exact: bool = False
    ) -> CandidateSet:
        """Recall for ``query``: keyword top-K ∪ dense top-K (∪ graph-expanded products of
        the query's linked entities), with every signal computed. The query is spelling-
        corrected first, as :meth:`search` does, unless ``exact``."""
        spelled = self.spell(validate_query(query), exact=exact)
        return self._recall(spelled.text, filters, self._state, exact=exact)[0]

    def spell(self, query: str, *, exact: bool = False) -> Correction:
        """What :meth:`search` searches for ``query``: each word no product uses replaced
        by the closest catalogue word (none with ``exact``)."""
        return Correction(query) if exact else self.spelling.correct(query)

    def _recall(
        self,
        query: str,
        filters: Filters | None,
        state: Snapshot,
        trace: dict[str, object] | None = None,
        *,
        exact: bool = False,
    ) -> tuple[CandidateSet, QueryGraph | None]:
        """Recall and signals; ``trace``, when given, receives what each source returned
        (``search.explain`` reads it: keyword and dense hits, expanded ids, tokens, vector)."""
        query = validate_query(query)
        tokens = self.analyzer.tokens(query)
        fuzzy = None if exact else self.fuzzy
        allowed = state.filters.allowed(filters) if filters else None
        graph = state.graph
        if graph is not None:  # the catalogue's aliases as query-side synonyms (both backends)
            tokens = graph.expand_tokens(tokens)
        vector = self.encoder.encode([query])[0]

        # The graph's candidates depend on the query only, so they are known before the
        # indexes are read, and a networked backend scores them in the same round trip.
        qgraph = graph.understand(query) if graph is not None else None
        expanded: list[str] = []
        if graph is not None and qgraph is not None and (allowed is None or allowed):
            expanded = graph.expand(qgraph, allowed)
        # A published pin names its product: it is a candidate whether or not a source
        # found it, unless the shopper's filters exclude it.
        pinned = [
            p for p in self.rules.pinned(query, qgraph, filters) if allowed is None or p in allowed
        ]
        # With a filter, over-fetch keyword hits and keep what passes; dense search filters
        # exactly. Nothing passes an empty filter: neither source is asked.
        some = allowed is None or bool(allowed)
        tops = self.sources.top(
            tokens,
            vector,
            keyword_k=(self.recall_k if allowed is None else self.recall_k * 5) if some else 0,
            dense_k=self.recall_k if some else 0,
            fuzzy=fuzzy,
            allowed=allowed,
            also=[*expanded, *pinned],
        )
        keyword_hits = tops.keyword
        if allowed is not None:
            keyword_hits = [h for h in keyword_hits if h[0] in allowed]
        keyword_hits = keyword_hits[: self.recall_k]
        dense_hits = [h for h in tops.dense if h[1] >= self.dense_min_score]
        from_keyword = {pid for pid, _ in keyword_hits}
        from_dense = {pid for pid, _ in dense_hits}
        ids = tuple(
            dict.fromkeys(
                [*(p for p, _ in keyword_hits), *(p for p, _ in dense_hits), *expanded, *pinned]
            )
        )
        ids = tuple(filter(state.documents.__contains__, ids))
        per_field, dense = self.sources.score(tokens, vector, ids, fuzzy=fuzzy, tops=tops)
        missing = [pid for pid in ids if pid not in dense]
        if missing and self._begun != state.generation:
            ids = tuple(p for p in ids if p in dense)  # deleted by an edit since this began
        elif missing:
            raise RuntimeError(
                f"{len(missing)} candidate(s) have no vector (e.g. {missing[0]!r}); "
                "the keyword and vector indexes disagree: run `kgsearch reindex`"
            )

        field_matrix = np.array(
            [list(map(per_field[f].get, ids, repeat(0.0))) for f in KEYWORD_FIELDS],
            dtype=np.float64,
        ).reshape(len(KEYWORD_FIELDS), len(ids))
        signals = {
            "bm25": self._weights @ field_matrix,
            **{f"bm25_{f}": field_matrix[i] for i, f in enumerate(KEYWORD_FIELDS)},
            "dense": np.array([dense[p] for p in ids], dtype=np.float64),
            "from_keyword": np.array([p in from_keyword for p in ids], dtype=np.float64),
            "from_dense": np.array([p in from_dense for p in ids], dtype=np.float64),
            **self._priors(ids, state.documents),
        }
        if graph is not None and qgraph is not None:
            signals.update(graph.signals(ids, qgraph, set(expanded)))
        if trace is not None:
            trace.update(
                query=query, tokens=tokens, keyword=keyword_hits, dense=dense_hits,
                expanded=expanded, allowed=allowed, vector=vector, fuzzy=fuzzy,
            )  # fmt: skip
        return CandidateSet(ids, signals), qgraph

    def _priors(
        self, ids: Sequence[str], documents: Mapping[str, ProductDocument]
    ) -> dict[str, np.ndarray]:
        """Query-independent priors: popularity, rating, and price relative to the other
        candidates (log-price z-score; 0 when a product has no price, flagged)."""
        docs = [documents[p] for p in ids]
        rating = np.array([d.average_rating or 0.0 for d in docs], dtype=np.float64)
        has_price = np.array([d.price is not None and d.price > 0 for d in docs])
        log_price = np.array([np.log(d.price) if d.price else 0.0 for d in docs])
        price_z = np.zeros(len(docs))
        if has_price.sum() > 1:
            mean, std = log_price[has_price].mean(), log_price[has_price].std()
            price_z[has_price] = (log_price[has_price] - mean) / (std if std > 0 else 1.0)
        return {
            "popularity": np.log1p(np.array([d.rating_count for d in docs], dtype=np.float64)),
            "rating": rating,
            "has_rating": (rating > 0).astype(np.float64),
            "price_z": price_z,
            "has_price": has_price.astype(np.float64),
        }

    # -- search ----------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        offset: int = 0,
        filters: Filters | None = None,
        ranker: Ranker | None = None,
        profile: ShopperProfile | None = None,
        brand_cap: int | None = None,
        exact: bool = False,
        explain: bool = False,
    ) -> SearchResult:
        """Rank the query's candidates and return page ``offset // k``.

        With ``explain`` each hit carries its contributions (the ranker's, the personal
        stage's, each rule's), which sum to its score; without, ``contributions`` is empty
        and the ranker's explanation (TreeSHAP for LambdaMART) is not computed.

        With a non-empty ``profile`` and a personal model trained over this ranker, each
        score gains its personal part (``ranker.personal``), shown as its own contributions;
        otherwise the ranking is the ranker's alone and a note says why. ``brand_cap`` lets
        no brand fill more than that many places of a page (off by default). Words no
        product uses are corrected first (``corrected_query`` says what was searched) and,
        on a fuzzy service, keyword terms match within their edit distance; ``exact``
        turns both off."""
        started = time.perf_counter()
        if not 1 <= k <= MAX_K:
            raise InvalidQuery("k", f"k must be between 1 and {MAX_K}, got {k}")
        if not 0 <= offset <= 10_000:
            raise InvalidQuery("offset", f"offset must be between 0 and 10000, got {offset}")
        if brand_cap is not None and not 1 <= brand_cap <= MAX_K:
            raise InvalidQuery("brand_cap", f"brand_cap must be between 1 and {MAX_K}")
        query = validate_query(query)
        state = self._state  # one snapshot for the whole request
        spelled = self.spell(query, exact=exact)
        candidates, qgraph = self._recall(spelled.text, filters, state, exact=exact)
        ranker = ranker or self.ranker
        degraded, notes = False, _spelling_notes(spelled, self.analyzer.tokens(spelled.text))
        personal, why_not = self._personal_stage(ranker, profile)
        if why_not:
            notes.append(why_not)
        try:
            if personal is not None and profile is not None:
                candidates = with_personal_signals(candidates, state.documents, profile)
            scores = ranker.score(candidates)
            if personal is not None:
                scores = scores + personal.score(candidates)
            ruled = self._ruled(query, qgraph, filters, candidates, scores, state)
            scores = ruled.scores
            order = ruled.reorder(self._order(candidates, scores, brand_cap, k, state))
            page = order[offset : offset + k]
            parts: dict[str, np.ndarray] = {}
            if explain:
                parts = dict(ranker.explain(candidates, page))
                if personal is not None:
                    parts.update(personal.explain(candidates, page))
                parts.update(ruled.explain(page))
            used = ranker.name
        except Exception as exc:  # a broken ranker must not take search down
            self._ranker_failures.record(ranker.name, exc)
            scores = self._fallback.score(candidates)
            ruled = self._ruled(query, qgraph, filters, candidates, scores, state)
            scores = ruled.scores
            order = ruled.reorder(self._order(candidates, scores, brand_cap, k, state))
            page = order[offset : offset + k]
            parts = {}
            if explain:
                parts = dict(self._fallback.explain(candidates, page))
                parts.update(ruled.explain(page))
            used, degraded, personal = self._fallback.name, True, None
            notes.append(f"ranker {ranker.name!r} failed ({exc}); results ranked by rrf")
        hits = tuple(
            self._hit(candidates, scores, parts, j, int(row), offset + j + 1, qgraph, state)
            for j, row in enumerate(page)
        )
        return SearchResult(
            query=query,
            tokens=tuple(self.analyzer.tokens(spelled.text)),
            ranker=used,
            total=len(candidates) - len(ruled.hidden),
            offset=offset,
            k=k,
            hits=hits,
            facets=self._facets(ruled.kept(candidates.product_ids), state.documents),
            took_ms=(time.perf_counter() - started) * 1000,
            degraded=degraded,
            notes=(*notes, *ruled.notes),
            entities=tuple((x.entity_id, x.span, x.confidence) for x in qgraph.links)
            if qgraph is not None
            else (),
            personalised=personal is not None,
            rules=ruled.labels,
            corrected_query=spelled.text if spelled.changed else None,
            explained=explain,
        )

    def _personal_stage(
        self, ranker: Ranker, profile: ShopperProfile | None
    ) -> tuple[PersonalModel | None, str | None]:
        """The personal model to add for ``profile``, or None and the reason (a note)."""
        if profile is None:
            return None, None
        if profile.empty:
            return None, f"no events of user {profile.user_id!r} yet: results not personalised"
        if self.personal is None:
            return None, (
                "this index version has no personal model (`kgsearch train-personal`): "
                "results not personalised"
            )
        if ranker is not self.ranker and ranker.params() != self.ranker.params():
            return None, (
                f"personalisation is trained over the default ranker "
                f"({self.personal.base_ranker}): results not personalised"
            )
        return self.personal, None

    def _ruled(
        self,
        query: str,
        qgraph: QueryGraph | None,
        filters: Filters | None,
        candidates: CandidateSet,
        scores: np.ndarray,
        state: Snapshot,
    ) -> Applied:
        """The published merchandising rules after the ranker and the personal stage
        (``search.rules``): new scores, and what they did (rows hidden and pinned, each
        rule's contribution and words). Applied to a fallback ranking too: a hidden
        product stays hidden when the ranker fails."""
        return self.rules.apply(
            query, qgraph, filters, candidates.product_ids, scores, state.documents
        )

    def _order(
        self,
        candidates: CandidateSet,
        scores: np.ndarray,
        brand_cap: int | None,
        k: int,
        state: Snapshot,
    ) -> np.ndarray:
        """Rows best first. Equal scores are ordered by :func:`tie_order` (more ratings,
        then product id), so a tie never falls to the order recall happened to find them."""
        order = tie_order(candidates, scores)
        if brand_cap is None:
            return order
        brands = [state.documents[p].brand for p in candidates.product_ids]
        return np.array(cap_brands(order.tolist(), brands, cap=brand_cap, page_size=k), np.intp)

    def _hit(
        self,
        candidates: CandidateSet,
        scores: np.ndarray,
        parts: Mapping[str, np.ndarray],
        j: int,
        row: int,
        rank: int,
        qgraph: QueryGraph | None,
        state: Snapshot,
    ) -> Hit:
        pid = candidates.product_ids[row]
        doc = state.documents[pid]
        return Hit(
            product_id=pid,
            rank=rank,
            score=float(scores[row]),
            name=doc.name,
            brand=doc.brand,
            product_class=doc.product_class,
            category_path=doc.category_path,
            price=doc.price,
            average_rating=doc.average_rating,
            signals={k: float(v[row]) for k, v in candidates.signals.items()},
            contributions={k: float(v[j]) for k, v in parts.items()},
            paths=state.graph.paths(pid, qgraph)
            if state.graph is not None and qgraph is not None
            else (),
        )

    def _facets(
        self, ids: Sequence[str], documents: Mapping[str, ProductDocument]
    ) -> dict[str, list[tuple[str, int]]]:
        docs = [documents[pid] for pid in ids]
        # Counted from generators (Counter's C loop): values in the order they first occur,
        # which breaks most_common's ties, as one loop over the candidates would.
        counters: dict[str, Counter[str]] = {
            "brand": Counter(d.brand for d in docs if d.brand),
            "product_class": Counter(d.product_class for d in docs if d.product_class),
            "category": Counter(d.category_path[-1] for d in docs if d.category_path),
            "price": Counter(_price_bucket(d.price) for d in docs if d.price is not None),
        }
        return {
            name: counter.most_common(FACET_SIZE) if name != "price" else sorted(counter.items())
            for name, counter in counters.items()
        }


class _LiveDocuments(Mapping[str, ProductDocument]):
    """A service's documents, read from its current snapshot at each access."""

    def __init__(self, service: SearchService) -> None:
        self._service = service

    def __getitem__(self, product_id: str) -> ProductDocument:
        return self._service.documents[product_id]

    def __contains__(self, product_id: object) -> bool:
        return product_id in self._service.documents

    def __iter__(self) -> Iterator[str]:
        return iter(self._service.documents)

    def __len__(self) -> int:
        return len(self._service.documents)


def _copied(documents: Mapping[str, ProductDocument]) -> dict[str, ProductDocument]:
    """A new dict of ``documents``: a clone of a dict's table (``dict.copy``); ``dict()``
    would copy a dict with holes (left by an edit's deletes) entry by entry, ms at 50k."""
    return documents.copy() if isinstance(documents, dict) else dict(documents)


def _spelling_notes(spelled: Correction, tokens: Sequence[str]) -> list[str]:
    """What a shopper should know about how their words were read."""
    notes = []
    if spelled.changed:
        fixes = ", ".join(f"{a!r} -> {b!r}" for a, b in spelled.replaced)
        notes.append(f"searched for {spelled.text!r} ({fixes}); exact=true searches as typed")
    if not tokens:
        notes.append(
            "the query has only stop words (or no letters and digits): no keyword match, "
            "results are by meaning alone"
        )
    elif spelled.unknown:
        words = ", ".join(repr(w) for w in spelled.unknown)
        notes.append(f"no product uses {words} and no close catalogue word was found")
    return notes


_PRICE_EDGES = (50, 100, 250, 500, 1000, 2500)
_PRICE_BUCKETS = (
    *(f"{low}-{high}" for low, high in zip((0, *_PRICE_EDGES), _PRICE_EDGES, strict=False)),
    f"{_PRICE_EDGES[-1]}+",
)


def _price_bucket(price: float) -> str:
    """``0-50``, ``50-100``, ... ``2500+``: the first edge above the price closes its bucket."""
    return _PRICE_BUCKETS[bisect.bisect_right(_PRICE_EDGES, price)]
