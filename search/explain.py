"""Explanations for merchandisers: why a product is where it is for a query, why it is not
on the page, and why one product ranks above another.

An explanation re-runs the search's own stages (``SearchService._recall`` with a trace,
the ranker, ``SearchService._order``) for one product, so it tells what the search did,
not a second opinion. The ranker's per-feature contributions are summed into lines by the
feature registry's topics and worded with the registry's :class:`~ranker.features.Wording`
("title matches 'velvet' (+0.21)"); lines that are about 0 are folded into one remainder.
Graph paths come from the :class:`~kg.store.GraphStore` (SQLite or Neo4j): the shortest
typed paths from the query's linked entities to the product.

The explanation is of the query-only ranking (no shopper profile); merchandising rules
applied after the ranker are not part of it yet.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from kg.documents import ProductDocument
from kg.schema import EntityKind, Relation, product_id
from kg.store import GraphStore, UnknownEntity
from ranker.candidates import CandidateSet
from ranker.features import FEATURES, TOPIC_WORDS, Wording
from ranker.fusion import Ranker
from search.filters import Filters
from search.graph_signals import QueryGraph
from search.keyword import KEYWORD_FIELDS, keyword_doc
from search.rules import Applied
from search.service import TIE_BREAK, SearchService, validate_query

__all__ = [
    "FOLD_BELOW",
    "Comparison",
    "Difference",
    "Explanation",
    "Line",
    "compare",
    "comparison_json",
    "explain",
    "explanation_json",
]

#: Lines whose contribution is smaller than this (in score units) are folded into one.
FOLD_BELOW = 0.005
#: How deep "why not" looks for a product's keyword or dense rank beyond recall.
DEEP_RANK_LIMIT = 10_000
#: The gap lines "why not" lists (the differences that account for most of the gap).
GAP_LINES = 3
PATH_MAX_HOPS = 3
PATHS_PER_ENTITY = 2

Stage = Literal["shown", "ranking", "rule", "filter", "recall"]
_MINUS = "\u2212"


def signed(amount: float) -> str:
    """``+0.21`` or ``−0.08`` (a true minus sign, as people read it)."""
    text = f"{abs(amount):.2f}"
    return f"+{text}" if amount >= 0 else f"{_MINUS}{text}"


@dataclass(frozen=True, slots=True)
class Line:
    """One worded, grouped part of a score."""

    topic: str  # the registry topic (its lead feature's name), or e.g. ``bias``
    text: str  # "title matches 'velvet'"
    amount: float
    features: Mapping[str, float]  # the raw contributions summed into ``amount``

    @property
    def says(self) -> str:
        return f"{self.text} ({signed(self.amount)})"


@dataclass(frozen=True, slots=True)
class KeywordTrace:
    recalled: bool
    rank: int | None  # among all keyword matches; None when no query word matches
    score: float  # field-weighted BM25
    fields: Mapping[str, float]  # BM25 per field
    terms: Mapping[str, tuple[str, ...]]  # the query words each field matches


@dataclass(frozen=True, slots=True)
class DenseTrace:
    recalled: bool
    rank: int | None  # among all products by cosine (None: beyond DEEP_RANK_LIMIT)
    cosine: float
    min_cosine: float  # dense recall keeps nothing below this


@dataclass(frozen=True, slots=True)
class GraphTrace:
    recalled: bool  # found by graph expansion
    linked: tuple[tuple[str, str, float], ...]  # (entity id, query span, confidence)
    through: tuple[str, ...]  # the linked entities the product has


@dataclass(frozen=True, slots=True)
class FilterTrace:
    applied: Mapping[str, Any]
    passed: bool
    failed: tuple[str, ...]  # the constraints the product does not meet, worded


@dataclass(frozen=True, slots=True)
class GraphPath:
    entity_id: str
    span: str
    relations: tuple[tuple[str, str, str], ...]  # (source, type, target), entity -> product
    text: str  # query "velvet" → attr:material=velvet ← HAS_ATTRIBUTE — P000163


@dataclass(frozen=True, slots=True)
class Difference:
    """One topic's contributions to two products' scores."""

    topic: str
    this: str  # the line's words for the first product
    other: str  # and for the second
    this_amount: float
    other_amount: float

    @property
    def gap(self) -> float:
        return self.this_amount - self.other_amount


@dataclass(frozen=True, slots=True)
class Explanation:
    query: str
    product_id: str
    name: str
    ranker: str
    k: int
    stage: Stage  # "shown" on the page, or the stage that lost it
    verdict: str  # one sentence saying where the product is and why
    rank: int | None  # among the candidates after ranking (None: not a candidate)
    score: float | None
    candidates: int
    last_shown: tuple[str, float] | None  # (product id, score) at rank k
    keyword: KeywordTrace
    dense: DenseTrace
    graph: GraphTrace
    filters: FilterTrace | None
    lines: tuple[Line, ...] = ()  # worded contributions, largest first
    folded: float = 0.0  # the sum of the lines too small to show
    baseline: float = 0.0  # the ranker's expected score (LambdaMART's bias), same for all
    gap: tuple[Difference, ...] = ()  # against the last shown hit, biggest shortfall first
    paths: tuple[GraphPath, ...] = ()
    tie: str | None = None  # set when another candidate has exactly the same score
    notes: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class Comparison:
    query: str
    ranker: str
    a: Explanation
    b: Explanation
    verdict: str
    differences: tuple[Difference, ...]  # largest |gap| first


# -- the run both explain() and compare() share ---------------------------------------------


@dataclass
class _Run:
    """One query's recall and ranking, as the search did them."""

    service: SearchService
    query: str  # as the shopper typed it
    searched: str  # after spelling correction: what recall searched for
    tokens: tuple[str, ...]
    candidates: CandidateSet
    qgraph: QueryGraph | None
    trace: dict[str, Any]
    ranker: Ranker
    scores: np.ndarray
    order: np.ndarray
    position: dict[str, int]  # product id -> 0-based place in ``order``
    ruled: Applied
    documents: Mapping[str, ProductDocument]
    filters: Filters | None
    notes: list[str]

    def row(self, pid: str) -> int | None:
        """The product's candidate row; None when not a candidate (or hidden by a rule)."""
        return self.candidates.product_ids.index(pid) if pid in self.position else None

    def hidden(self, pid: str) -> bool:
        ids = self.candidates.product_ids
        return any(ids[row] == pid for row in self.ruled.hidden)

    def hiding_rule(self, pid: str) -> str:
        """The words of the rule that hid ``pid`` (the lowest rule id when several did)."""
        ids = self.candidates.product_ids
        key = next(k for row, k in sorted(self.ruled.hidden_by.items()) if ids[row] == pid)
        return self.ruled.labels.get(key, key)


def _run(
    service: SearchService, query: str, filters: Filters | None, ranker: Ranker | None
) -> _Run:
    query = validate_query(query)
    state = service.snapshot
    trace: dict[str, Any] = {}
    spelled = service.spell(query)
    candidates, qgraph = service._recall(spelled.text, filters, state, trace)
    chosen = ranker or service.ranker
    notes: list[str] = []
    if spelled.changed:
        notes.append(f"searched as {spelled.text!r}: search corrects the spelling first")
    try:
        scores = chosen.score(candidates)
    except Exception as exc:  # as search does: a broken ranker falls back to rrf
        notes.append(f"ranker {chosen.name!r} failed ({exc}); explained with rrf")
        chosen = service._fallback
        scores = chosen.score(candidates)
    ruled = service._ruled(query, qgraph, filters, candidates, scores, state)
    scores = ruled.scores
    order = ruled.reorder(service._order(candidates, scores, None, len(candidates), state))
    ids = candidates.product_ids
    return _Run(
        service=service,
        query=query,
        searched=str(trace["query"]),
        tokens=tuple(trace["tokens"]),
        candidates=candidates,
        qgraph=qgraph,
        trace=trace,
        ranker=chosen,
        scores=scores,
        order=order,
        position={ids[int(r)]: i for i, r in enumerate(order)},
        ruled=ruled,
        documents=state.documents,
        filters=filters,
        notes=notes,
    )


def _document(run: _Run, pid: str) -> ProductDocument:
    doc = run.documents.get(pid)
    if doc is None:
        raise UnknownEntity(product_id(pid), "not in the live index")
    return doc


# -- words -------------------------------------------------------------------------------


class _Missing(KeyError):
    pass


class _Context(dict[str, str]):
    def __missing__(self, key: str) -> str:
        raise _Missing(key)


def _quoted(words: Sequence[str]) -> str:
    return ", ".join(f"'{w}'" for w in words)


def _query_words(run: _Run) -> dict[str, str]:
    """Analysed token -> the query word it came from (to quote the shopper's words)."""
    analyzer = run.service.analyzer
    out: dict[str, str] = {}
    for word in re.findall(r"\w[\w'-]*", run.searched):
        for token in analyzer.tokens(word):
            out.setdefault(token, word.lower())
    return out


def _matched_terms(run: _Run, doc: ProductDocument) -> dict[str, tuple[str, ...]]:
    kdoc = keyword_doc(doc, run.service.analyzer)
    words = _query_words(run)
    query_tokens = list(dict.fromkeys(run.tokens))
    out: dict[str, tuple[str, ...]] = {}
    for f in KEYWORD_FIELDS:
        present = set(kdoc.fields.get(f, "").split())
        hit = tuple(dict.fromkeys(words.get(t, t) for t in query_tokens if t in present))
        if hit:
            out[f] = hit
    return out


def _links(run: _Run, kind: EntityKind) -> list[Any]:
    return run.qgraph.of_kind(kind) if run.qgraph is not None else []


def _context(run: _Run, doc: ProductDocument, row: int | None) -> _Context:
    """What a registry phrase may name about this product and query (see ``Wording``)."""
    ctx = _Context()
    terms = _matched_terms(run, doc)
    for f, words in terms.items():
        ctx[f"terms_{f}"] = _quoted(words)
    if terms:
        ctx["terms"] = _quoted(list(dict.fromkeys(w for ws in terms.values() for w in ws)))
    signals = run.candidates.signals
    if row is not None:
        ranks = {p: i + 1 for i, (p, _) in enumerate(run.trace["keyword"])}
        if doc.product_id in ranks:
            ctx["keyword_rank"] = str(ranks[doc.product_id])
        dense_ranks = {p: i + 1 for i, (p, _) in enumerate(run.trace["dense"])}
        ctx["dense_rank"] = str(dense_ranks.get(doc.product_id, "beyond recall"))
        ctx["cosine"] = f"{signals['dense'][row]:.2f}"
        if "kge_similarity" in signals:
            ctx["kge_similarity"] = f"{signals['kge_similarity'][row]:.2f}"
        z = float(signals["price_z"][row])
        ctx["price_position"] = (
            "dearer than most candidates"
            if z > 0.5
            else "cheaper than most candidates"
            if z < -0.5
            else "near the candidates' middle price"
        )
    ctx.setdefault("keyword_rank", "beyond recall")
    through = _through(run, doc.product_id)
    labels = {link.entity_id: link for link in (run.qgraph.links if run.qgraph else ())}
    if through:
        ctx["expanded_by"] = ", ".join(_entity_words(labels[e]) for e in through)
    if doc.brand:
        ctx["brand"] = doc.brand
    brands = _links(run, EntityKind.BRAND)
    if brands:
        ctx["query_brand"] = " or ".join(link.label for link in brands)
    if doc.category_path:
        ctx["category"] = doc.category_path[-1]
    categories = _links(run, EntityKind.CATEGORY)
    if categories:
        ctx["query_category"] = " or ".join(link.label for link in categories)
    attributes = _links(run, EntityKind.ATTRIBUTE_VALUE)
    if attributes:
        matched = [link for link in attributes if link.entity_id in through]
        ctx["matched_attributes"] = ", ".join(_entity_words(link) for link in matched) or "none"
        ctx["query_attributes"] = ", ".join(
            _entity_words(link) for link in attributes if link not in matched
        ) or ", ".join(_entity_words(link) for link in attributes)
        own = []
        for key in dict.fromkeys(link.key for link in attributes if link not in matched):
            value = doc.attributes.get(key or "")
            own.append(f"{key} is {value}" if value else f"no {key} given")
        ctx["product_attributes"] = "; ".join(own) or "other values"
    ctx["ratings"] = str(doc.rating_count)
    if doc.average_rating:
        ctx["rating"] = f"{doc.average_rating:.1f}"
    if doc.price is not None:
        ctx["price"] = f"{doc.price:,.2f}"
    if run.qgraph is not None:
        ctx["attribute"] = ", ".join(_entity_words(link) for link in attributes)
    return ctx


def _entity_words(link: Any) -> str:
    return f"{link.key} {link.label}" if link.key else str(link.label)


def _through(run: _Run, pid: str) -> list[str]:
    graph = run.service.snapshot.graph
    if graph is None or run.qgraph is None:
        return []
    return [entity for _, _, entity in graph.paths(pid, run.qgraph)]


def _phrase(
    words: Wording | None, topic: str, present: bool, ctx: _Context, labels: Mapping[str, str]
) -> str:
    if words is None:
        return "the ranker's baseline" if topic == "bias" else labels.get(topic, topic)
    for template in (words.present if present else words.absent or words.present, words.otherwise):
        if not template:
            continue
        try:
            return template.format_map(ctx)
        except _Missing:
            continue
    return FEATURES[topic].description if topic in FEATURES else topic


def _topic(name: str) -> str:
    feature = FEATURES.get(name)
    return feature.line if feature is not None else name


def _lines(
    run: _Run, parts: Mapping[str, float], doc: ProductDocument, row: int | None
) -> dict[str, Line]:
    """Contributions summed by topic and worded, every topic (none folded yet)."""
    grouped: dict[str, dict[str, float]] = {}
    for name, value in parts.items():
        if name == "bias":
            continue
        grouped.setdefault(_topic(name), {})[name] = float(value)
    ctx = _context(run, doc, row)
    lines = {}
    for topic, features in grouped.items():
        lead = run.candidates.signals.get(topic)
        present = bool(lead is not None and row is not None and lead[row] != 0)
        text = _phrase(TOPIC_WORDS.get(topic), topic, present, ctx, run.ruled.labels)
        lines[topic] = Line(topic, text, sum(features.values()), features)
    return lines


def _parts(run: _Run, rows: Sequence[int]) -> list[dict[str, float]]:
    """The ranker's contributions to each row's score and each applied rule's."""
    index = np.asarray(rows, dtype=np.intp)
    raw = run.ranker.explain(run.candidates, index)
    raw.update(run.ruled.explain(index))
    return [{k: float(v[j]) for k, v in raw.items()} for j in range(len(rows))]


def _shown(lines: Mapping[str, Line]) -> tuple[tuple[Line, ...], float]:
    kept = sorted(
        (x for x in lines.values() if abs(x.amount) >= FOLD_BELOW), key=lambda x: -abs(x.amount)
    )
    folded = sum(x.amount for x in lines.values() if abs(x.amount) < FOLD_BELOW)
    return tuple(kept), folded


def _differences(
    mine: Mapping[str, Line], theirs: Mapping[str, Line], tolerance: float = FOLD_BELOW
) -> list[Difference]:
    out = []
    for topic in dict.fromkeys([*mine, *theirs]):
        a, b = mine.get(topic), theirs.get(topic)
        amount_a, amount_b = (a.amount if a else 0.0), (b.amount if b else 0.0)
        if abs(amount_a - amount_b) < tolerance:
            continue
        text_a = a.text if a else (b.text if b else topic)
        text_b = b.text if b else text_a
        out.append(Difference(topic, text_a, text_b, amount_a, amount_b))
    return sorted(out, key=lambda d: -abs(d.gap))


# -- recall and filter traces -------------------------------------------------------------


def _keyword_trace(run: _Run, doc: ProductDocument, row: int | None) -> KeywordTrace:
    """The product's keyword scores (from its signals when it is a candidate) and rank
    (beyond recall when it was not recalled: a deeper keyword search, as recall runs it)."""
    pid = doc.product_id
    hits = run.trace["keyword"]
    ranks = {p: i + 1 for i, (p, _) in enumerate(hits)}
    service, fuzzy = run.service, run.trace.get("fuzzy")
    tokens = list(run.tokens)
    if row is not None:
        signals = run.candidates.signals
        fields = {f: float(signals[f"bm25_{f}"][row]) for f in KEYWORD_FIELDS}
    else:
        per_field = service.keyword.field_scores(tokens, [pid], fuzzy=fuzzy) if tokens else {}
        fields = {f: float(per_field.get(f, {}).get(pid, 0.0)) for f in KEYWORD_FIELDS}
    score = float(np.dot(service._weights, [fields[f] for f in KEYWORD_FIELDS]))
    rank = ranks.get(pid)
    if rank is None and score > 0:
        deep_k = min(DEEP_RANK_LIMIT, max(1, len(run.documents)))
        deep = service.keyword.search(tokens, k=deep_k, fuzzy=fuzzy)
        rank = next((i + 1 for i, (p, _) in enumerate(deep) if p == pid), None)
    return KeywordTrace(pid in ranks, rank, score, fields, _matched_terms(run, doc))


def _dense_trace(run: _Run, pid: str, row: int | None) -> DenseTrace:
    hits = run.trace["dense"]
    ranks = {p: i + 1 for i, (p, _) in enumerate(hits)}
    vectors, vector = run.service.vectors, run.trace["vector"]
    cosine = (
        float(run.candidates.signals["dense"][row])
        if row is not None
        else float(vectors.scores(vector, [pid]).get(pid, 0.0))
    )
    rank = ranks.get(pid)
    if rank is None:
        deep = vectors.search(vector, k=min(DEEP_RANK_LIMIT, max(1, vectors.count())))
        rank = next((i + 1 for i, (p, _) in enumerate(deep) if p == pid), None)
    return DenseTrace(pid in ranks, rank, cosine, run.service.dense_min_score)


def _graph_trace(run: _Run, pid: str) -> GraphTrace:
    links = run.qgraph.links if run.qgraph is not None else ()
    return GraphTrace(
        recalled=pid in set(run.trace["expanded"]),
        linked=tuple((x.entity_id, x.span, x.confidence) for x in links),
        through=tuple(_through(run, pid)),
    )


def _filter_trace(run: _Run, pid: str) -> FilterTrace | None:
    filters = run.filters
    if not filters:
        return None
    index = run.service.snapshot.filters
    failed: list[str] = []
    for name, single in _constraints(filters):
        if pid not in index.allowed(single):
            failed.append(name)
    applied = {name: _constraint_value(filters, name) for name, _ in _constraints(filters)}
    return FilterTrace(applied, not failed, tuple(failed))


def _constraints(filters: Filters) -> list[tuple[str, Filters]]:
    """Each constraint of ``filters`` alone, named as the API takes it."""
    out: list[tuple[str, Filters]] = []
    for name in ("brand", "category", "product_class"):
        values = getattr(filters, name)
        if values:
            out.append((name, Filters(**{name: values})))
    for key, values in filters.attributes.items():
        out.append((key, Filters(attributes={key: values})))
    for bound in ("price_min", "price_max", "rating_min", "rating_max"):
        if getattr(filters, bound) is not None:
            out.append((bound, Filters(**{bound: getattr(filters, bound)})))
    return out


def _constraint_value(filters: Filters, name: str) -> Any:
    if name in filters.attributes:
        return sorted(filters.attributes[name])
    value = getattr(filters, name)
    return sorted(value) if isinstance(value, frozenset) else value


# -- graph paths ------------------------------------------------------------------------


def _graph_paths(run: _Run, pid: str, store: GraphStore | None) -> tuple[GraphPath, ...]:
    if store is None or run.qgraph is None or not run.qgraph.links:
        return ()
    target = product_id(pid)
    spans = {link.entity_id: link.span for link in run.qgraph.links}
    found = store.paths_to(target, list(spans), max_hops=PATH_MAX_HOPS, limit=PATHS_PER_ENTITY)
    out = []
    for entity, paths in found.items():
        for relations in paths:
            out.append(
                GraphPath(
                    entity,
                    spans[entity],
                    tuple((r.source, str(r.type), r.target) for r in relations),
                    _path_text(spans[entity], entity, relations),
                )
            )
    return tuple(sorted(out, key=lambda p: (len(p.relations), p.entity_id)))


def _path_text(span: str, entity: str, relations: Sequence[Relation]) -> str:
    text, at = f'query "{span}" \u2192 {entity}', entity
    for rel in relations:
        if rel.source == at:
            at = rel.target
            text += f" \u2014 {rel.type} \u2192 {_short(at)}"
        else:
            at = rel.source
            text += f" \u2190 {rel.type} \u2014 {_short(at)}"
    return text


def _short(entity: str) -> str:
    return entity.removeprefix("product:")


# -- the public calls -------------------------------------------------------------------


def explain(
    service: SearchService,
    query: str,
    pid: str,
    *,
    k: int = 10,
    filters: Filters | None = None,
    ranker: Ranker | None = None,
    store: GraphStore | None = None,
) -> Explanation:
    """Why ``pid`` is where it is for ``query`` (a page of ``k`` hits), or which stage lost it.

    Raises :class:`~kg.store.UnknownEntity` for a product not in the index and
    :class:`~search.service.InvalidQuery` for a query search refuses."""
    if not 1 <= k <= 1_000:
        from search.service import InvalidQuery

        raise InvalidQuery("k", f"k must be between 1 and 1000, got {k}")
    run = _run(service, query, filters, ranker)
    return _explain(run, pid, k, store)


def _explain(run: _Run, pid: str, k: int, store: GraphStore | None) -> Explanation:
    doc = _document(run, pid)
    row = run.row(pid)
    keyword, dense = _keyword_trace(run, doc, row), _dense_trace(run, pid, row)
    graph = _graph_trace(run, pid)
    filt = _filter_trace(run, pid)
    n = len(run.candidates)
    shown = len(run.order)  # fewer than the candidates when a rule hides some
    last_row = int(run.order[min(k, shown) - 1]) if shown else None
    last = (
        (run.candidates.product_ids[last_row], float(run.scores[last_row]))
        if last_row is not None
        else None
    )
    base: dict[str, Any] = {
        "query": run.query,
        "product_id": pid,
        "name": doc.name,
        "ranker": run.ranker.name,
        "k": k,
        "candidates": n,
        "last_shown": last,
        "keyword": keyword,
        "dense": dense,
        "graph": graph,
        "filters": filt,
        "paths": _graph_paths(run, pid, store),
        "notes": tuple(run.notes),
    }
    if run.hidden(pid):
        verdict = (
            f"recalled, then hidden by a merchandising rule: {run.hiding_rule(pid)} "
            "(see /merchandising/rules)"
        )
        return Explanation(stage="rule", verdict=verdict, rank=None, score=None, **base)
    if row is None:
        stage: Stage = "filter" if filt is not None and not filt.passed else "recall"
        verdict = _lost_in_recall(run, stage, keyword, dense, graph, filt)
        return Explanation(stage=stage, verdict=verdict, rank=None, score=None, **base)
    rank = run.position[pid] + 1
    score = float(run.scores[row])
    rows = [row] if last_row is None or last_row == row else [row, last_row]
    parts = _parts(run, rows)
    mine = _lines(run, parts[0], doc, row)
    lines, folded = _shown(mine)
    gap: tuple[Difference, ...] = ()
    stage = "shown" if rank <= k else "ranking"
    pins = [f"pinned at {place} by rule #{rule}" for place, rule, r in run.ruled.pins if r == row]
    if stage == "shown":
        verdict = f"shown at rank {rank} of {n} candidates with score {score:.4f}"
        verdict += "".join(f"; {pin}" for pin in pins)
    else:
        assert last is not None and last_row is not None
        theirs = _lines(run, parts[1], _document(run, last[0]), last_row)
        short = [d for d in _differences(mine, theirs) if d.gap < 0]
        gap = tuple(short[:GAP_LINES])
        verdict = (
            f"recalled, then ranked {rank} of {n} with score {score:.4f}; the last shown "
            f"hit ({last[0]}, rank {k}) scored {last[1]:.4f}, {last[1] - score:.4f} more"
        )
    return Explanation(
        stage=stage,
        verdict=verdict,
        rank=rank,
        score=score,
        lines=lines,
        folded=folded,
        baseline=parts[0].get("bias", 0.0),
        gap=gap,
        tie=_tie(run, row),
        **base,
    )


def _lost_in_recall(
    run: _Run,
    stage: Stage,
    keyword: KeywordTrace,
    dense: DenseTrace,
    graph: GraphTrace,
    filt: FilterTrace | None,
) -> str:
    if stage == "filter" and filt is not None:
        return f"removed by filter {', '.join(filt.failed)}: the product does not meet it"
    recall_k = run.service.recall_k
    kw = (
        f"keyword rank {keyword.rank} (recall keeps the top {recall_k})"
        if keyword.rank is not None
        else "no query word matches its text"
    )
    if dense.cosine < dense.min_cosine:
        dn = f"cosine {dense.cosine:.2f} is below dense recall's minimum {dense.min_cosine:.2f}"
    elif dense.rank is not None:
        dn = f"dense rank {dense.rank}, cosine {dense.cosine:.2f} (recall keeps the top {recall_k})"
    else:
        dn = f"dense rank beyond {DEEP_RANK_LIMIT}, cosine {dense.cosine:.2f}"
    gr = (
        "not linked to any entity the query names"
        if not graph.through
        else f"has {', '.join(graph.through)} but graph expansion kept only its top products"
    )
    return f"not recalled by any source: {kw}; {dn}; {gr}"


def _tie(run: _Run, row: int) -> str | None:
    score = run.scores[row]
    tied = [
        run.candidates.product_ids[i] for i in np.flatnonzero(run.scores == score) if int(i) != row
    ]
    if not tied:
        return None
    shown = ", ".join(sorted(tied)[:5]) + (" ..." if len(tied) > 5 else "")
    return f"same score as {len(tied)} other candidate(s) ({shown}); {TIE_BREAK}"


def compare(
    service: SearchService,
    query: str,
    a: str,
    b: str,
    *,
    filters: Filters | None = None,
    ranker: Ranker | None = None,
    store: GraphStore | None = None,
    k: int = 10,
) -> Comparison:
    """Why ``a`` ranks above (or below) ``b`` for ``query``: both explained from one
    run, and the per-topic differences of their contributions, largest first."""
    run = _run(service, query, filters, ranker)
    doc_a, doc_b = _document(run, a), _document(run, b)
    ea, eb = _explain(run, a, k, store), _explain(run, b, k, store)
    row_a, row_b = run.row(a), run.row(b)
    if row_a is None or row_b is None:
        missing = a if row_a is None else b
        return Comparison(
            run.query,
            run.ranker.name,
            ea,
            eb,
            f"{missing} is not among the candidates, so there is no score to compare: "
            f"{(ea if row_a is None else eb).verdict}",
            (),
        )
    parts = _parts(run, [row_a, row_b])
    la = _lines(run, parts[0], doc_a, row_a)
    lb = _lines(run, parts[1], doc_b, row_b)
    above, below = (a, b) if run.position[a] < run.position[b] else (b, a)
    gap = float(run.scores[row_a] - run.scores[row_b])
    verdict = (
        f"{above} (rank {run.position[above] + 1}) is above {below} "
        f"(rank {run.position[below] + 1}); score gap {abs(gap):.4f}"
    )
    if gap == 0:
        verdict += f" (equal scores: {TIE_BREAK})"
    return Comparison(run.query, run.ranker.name, ea, eb, verdict, tuple(_differences(la, lb)))


# -- JSON (the API and ``kgsearch explain --json`` share it) ----------------------------


def _line_json(line: Line) -> dict[str, Any]:
    return {
        "topic": line.topic,
        "text": line.text,
        "says": line.says,
        "amount": round(line.amount, 6),
        "features": {k: round(v, 6) for k, v in line.features.items()},
    }


def _difference_json(d: Difference) -> dict[str, Any]:
    return {
        "topic": d.topic,
        "this": d.this,
        "other": d.other,
        "this_amount": round(d.this_amount, 6),
        "other_amount": round(d.other_amount, 6),
        "gap": round(d.gap, 6),
    }


def explanation_json(x: Explanation) -> dict[str, Any]:
    """``x`` as plain JSON types, worded lines with their ``says`` text."""
    out = asdict(x)
    out["lines"] = [_line_json(line) for line in x.lines]
    out["gap"] = [_difference_json(d) for d in x.gap]
    out["last_shown"] = (
        {"product_id": x.last_shown[0], "score": round(x.last_shown[1], 6)}
        if x.last_shown
        else None
    )
    out["folded"] = round(x.folded, 6)
    out["baseline"] = round(x.baseline, 6)
    out["graph"]["linked"] = [
        {"entity_id": e, "span": s, "confidence": round(c, 4)} for e, s, c in x.graph.linked
    ]
    out["paths"] = [
        {"entity_id": p.entity_id, "span": p.span, "relations": [list(r) for r in p.relations],
         "text": p.text}
        for p in x.paths
    ]  # fmt: skip
    return out


def comparison_json(c: Comparison) -> dict[str, Any]:
    return {
        "query": c.query,
        "ranker": c.ranker,
        "verdict": c.verdict,
        "a": explanation_json(c.a),
        "b": explanation_json(c.b),
        "differences": [_difference_json(d) for d in c.differences],
    }
