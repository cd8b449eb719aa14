"""Entity linking: spans of a query -> brand, category and attribute-value entities.

The lexicon is built from the catalogue's own entities (their names as the graph holds
them), never from the demo generator's vocabulary. Matching runs on analysed tokens, so
plurals and the analyser's synonyms match (``couches`` -> the ``Sofas`` category); spans
that match nothing exactly are tried fuzzily (rapidfuzz ratio on the folded words) to
survive misspellings. Each link carries a confidence in (0, 1].

Aliases (the catalogue's other words for an entity, :mod:`catalogue.aliases`) are set from
the graph with :meth:`EntityLinker.set_aliases` and replaced whole on each change: an
alias span links its entity at :data:`ALIAS_CONFIDENCE` of an exact name match (the
catalogue team vouches for the word, but the entity's own name is still the stronger
evidence), and is tried fuzzily like a name. :meth:`EntityLinker.expand_tokens` gives the
keyword backends the entity's name tokens beside an alias's (query-side synonyms).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from kg.documents import ProductDocument
from kg.schema import EntityKind, attribute_id, brand_id, category_id
from search.analysis import Analyzer, fold

__all__ = ["ALIAS_CONFIDENCE", "EntityLink", "EntityLinker", "LexiconEntry"]

#: An alias match's confidence relative to an exact name match.
ALIAS_CONFIDENCE = 0.95

_MAX_SPAN = 4
_GENERIC_VALUES = frozenset({"yes", "no", "none", "other", "na", "n", "y", "true", "false"})
_PRIOR = {EntityKind.BRAND: 1.0, EntityKind.CATEGORY: 1.0, EntityKind.ATTRIBUTE_VALUE: 0.9}


@dataclass(frozen=True, slots=True)
class LexiconEntry:
    entity_id: str
    kind: EntityKind
    label: str  # the name as the catalogue writes it
    key: str | None = None  # the attribute key, for attribute values


@dataclass(frozen=True, slots=True)
class EntityLink:
    entity_id: str
    kind: EntityKind
    label: str
    key: str | None
    span: str  # the query words that matched
    confidence: float
    fuzzy: bool = False


def _entries(documents: Iterable[ProductDocument]) -> list[LexiconEntry]:
    entries: list[LexiconEntry] = []
    for doc in documents:
        if doc.brand:
            entries.append(LexiconEntry(brand_id(doc.brand), EntityKind.BRAND, doc.brand))
        for depth in range(1, len(doc.category_path) + 1):
            path = doc.category_path[:depth]
            entries.append(LexiconEntry(category_id(path), EntityKind.CATEGORY, path[-1]))
        for key, value in doc.attributes.items():
            entries.append(
                LexiconEntry(attribute_id(key, value), EntityKind.ATTRIBUTE_VALUE, value, key)
            )
    return entries


@dataclass(frozen=True, slots=True)
class _Aliases:
    """One immutable alias table: readers keep theirs while :meth:`set_aliases` swaps."""

    spans: Mapping[tuple[str, ...], tuple[LexiconEntry, ...]]  # alias tokens -> entities
    names: Mapping[tuple[str, ...], tuple[str, ...]]  # alias tokens -> their names' tokens
    fuzzy: Mapping[str, tuple[LexiconEntry, ...]]  # folded alias -> entities
    choices: tuple[str, ...]


_NO_ALIASES = _Aliases({}, {}, {}, ())


def _dedupe(tokens: Sequence[str]) -> tuple[str, ...]:
    """Drop a token equal to the one before ("curtains & drapes" -> curtain curtain)."""
    return tuple(t for i, t in enumerate(tokens) if i == 0 or tokens[i - 1] != t)


def _useful_value(tokens: Sequence[str]) -> bool:
    return any(len(t) >= 3 and t.isalpha() for t in tokens) and not set(tokens) <= _GENERIC_VALUES


class EntityLinker:
    """Longest exact span first (on analysed tokens), then fuzzy spans for the rest."""

    def __init__(
        self, *, entries: Iterable[LexiconEntry], analyzer: Analyzer, fuzzy_cutoff: float = 88.0
    ) -> None:
        if not 50.0 <= fuzzy_cutoff <= 100.0:
            raise ValueError("fuzzy_cutoff is a rapidfuzz ratio between 50 and 100")
        self._analyzer = analyzer
        self._cutoff = fuzzy_cutoff
        self._exact: dict[tuple[str, ...], list[LexiconEntry]] = defaultdict(list)
        self._names: dict[str, list[LexiconEntry]] = defaultdict(list)
        self._known: set[LexiconEntry] = set()
        self._by_id: dict[str, list[LexiconEntry]] = defaultdict(list)
        self._choices: list[str] = []
        self._aliases = _NO_ALIASES
        self._alias_source: dict[str, tuple[str, ...]] = {}
        self.add(entries)

    def add(self, entries: Iterable[LexiconEntry]) -> None:
        """Learn entity names (new brands or attribute values from catalog edits)."""
        for entry in entries:
            if entry in self._known:
                continue
            self._known.add(entry)
            self._by_id[entry.entity_id].append(entry)
            tokens = _dedupe(self._analyzer.tokens(entry.label))
            if not tokens or len(tokens) > _MAX_SPAN:
                continue
            if entry.kind is EntityKind.ATTRIBUTE_VALUE and not _useful_value(tokens):
                continue
            self._exact[tokens].append(entry)
            name = " ".join(fold(entry.label).split())
            if name not in self._names and len(name) >= 4:
                self._choices.append(name)
            self._names[name].append(entry)

    def add_documents(self, documents: Iterable[ProductDocument]) -> None:
        before = len(self._by_id)
        self.add(_entries(documents))
        if self._alias_source and len(self._by_id) != before:
            self.set_aliases(self._alias_source)  # a new entity may carry an alias already

    def set_aliases(self, aliases: Mapping[str, Sequence[str]]) -> None:
        """Replace the alias table with ``aliases`` (entity id -> its folded aliases, as
        :meth:`kg.store.GraphStore.aliases` gives them). Aliases of entities no product
        uses are kept aside until one does."""
        spans: dict[tuple[str, ...], list[LexiconEntry]] = defaultdict(list)
        names: dict[tuple[str, ...], list[str]] = defaultdict(list)
        fuzzy: dict[str, list[LexiconEntry]] = defaultdict(list)
        for eid, texts in sorted(aliases.items()):
            entries = self._by_id.get(eid, [])
            if not entries:
                continue
            label = _dedupe(self._analyzer.tokens(entries[0].label))
            for text in texts:
                tokens = _dedupe(self._analyzer.tokens(text))
                if not tokens or len(tokens) > _MAX_SPAN:
                    continue
                spans[tokens].extend(entries)
                names[tokens].extend(t for t in label if t not in names[tokens])
                if len(text) >= 4:
                    fuzzy[" ".join(text.split())].extend(entries)
        self._alias_source = {eid: tuple(texts) for eid, texts in aliases.items()}
        self._aliases = _Aliases(
            {k: tuple(v) for k, v in spans.items()},
            {k: tuple(v) for k, v in names.items()},
            {k: tuple(v) for k, v in fuzzy.items()},
            tuple(sorted(fuzzy)),
        )

    @property
    def alias_count(self) -> int:
        """How many alias spans link (aliases of entities some product uses)."""
        return len(self._aliases.spans)

    def expand_tokens(self, tokens: Sequence[str]) -> list[str]:
        """``tokens`` plus, after them, the name tokens of each entity an alias span among
        them stands for (longest span first; each token once): ``couch`` -> ``couch sofa``
        when ``couch`` is an alias of Sofas. Both keyword backends search the result, so
        an alias reaches BM25 without a reindex and identically on tantivy and ES."""
        table = self._aliases
        if not table.names:
            return list(tokens)
        out = list(tokens)
        i = 0
        while i < len(tokens):
            for n in range(min(_MAX_SPAN, len(tokens) - i), 0, -1):
                name = table.names.get(tuple(tokens[i : i + n]))
                if name:
                    out.extend(t for t in name if t not in out)
                    i += n
                    break
            else:
                i += 1
        return out

    @classmethod
    def from_documents(
        cls, documents: Iterable[ProductDocument], *, analyzer: Analyzer
    ) -> EntityLinker:
        return cls(entries=_entries(documents), analyzer=analyzer)

    def __len__(self) -> int:
        return sum(len(v) for v in self._exact.values())

    def link(self, query: str) -> list[EntityLink]:
        links: list[EntityLink] = []
        aliases = self._aliases
        words = fold(query).split()
        tokens = list(_dedupe(self._analyzer.tokens(query)))
        used = [False] * len(tokens)
        i = 0
        while i < len(tokens):
            for n in range(min(_MAX_SPAN, len(tokens) - i), 0, -1):
                span = tuple(tokens[i : i + n])
                entries = self._exact.get(span)
                score = 1.0
                if not entries:
                    entries, score = list(aliases.spans.get(span, ())), ALIAS_CONFIDENCE
                if entries:
                    links.extend(self._links(entries, " ".join(span), score, False))
                    used[i : i + n] = [True] * n
                    i += n
                    break
            else:
                i += 1
        if not all(used):
            links.extend(self._scattered(tokens, used))
            matched = {t for t, u in zip(tokens, used, strict=True) if u}
            links.extend(self._fuzzy(words, matched, aliases))
        best: dict[str, EntityLink] = {}
        for link in links:
            if link.entity_id not in best or link.confidence > best[link.entity_id].confidence:
                best[link.entity_id] = link
        return sorted(best.values(), key=lambda x: (-x.confidence, x.entity_id))

    def _links(
        self, entries: Sequence[LexiconEntry], span: str, score: float, fuzzy: bool
    ) -> list[EntityLink]:
        # A span naming several entities of one kind (e.g. "white" as a colour and a
        # finish) shares its confidence among them.
        per_kind: dict[EntityKind, int] = defaultdict(int)
        for e in entries:
            per_kind[e.kind] += 1
        return [
            EntityLink(
                e.entity_id,
                e.kind,
                e.label,
                e.key,
                span,
                round(score * _PRIOR[e.kind] / per_kind[e.kind] ** 0.5, 4),
                fuzzy,
            )
            for e in entries
        ]

    def _scattered(self, tokens: Sequence[str], used: Sequence[bool]) -> list[EntityLink]:
        """Multi-word names whose words all occur in the query, not side by side
        ("mat for kitchen floor" -> Kitchen Mats), at a lower confidence."""
        present = set(tokens)
        free = {t for t, u in zip(tokens, used, strict=True) if not u}
        out: list[EntityLink] = []
        for name_tokens, entries in self._exact.items():
            if len(name_tokens) > 1 and set(name_tokens) <= present and free & set(name_tokens):
                out.extend(self._links(entries, " ".join(name_tokens), 0.8, False))
        return out

    def _fuzzy(
        self, words: Sequence[str], matched_tokens: set[str], aliases: _Aliases = _NO_ALIASES
    ) -> list[EntityLink]:
        out: list[EntityLink] = []
        for n in (3, 2, 1):
            for i in range(len(words) - n + 1):
                span = " ".join(words[i : i + n])
                if len(span) < 4 or set(self._analyzer.tokens(span)) <= matched_tokens:
                    continue
                hit = process.extractOne(
                    span, self._choices, scorer=fuzz.ratio, score_cutoff=self._cutoff
                )
                if hit is not None:
                    name, score, _ = hit
                    out.extend(self._links(self._names[name], span, 0.9 * score / 100, True))
                if aliases.choices:
                    alias = process.extractOne(
                        span, aliases.choices, scorer=fuzz.ratio, score_cutoff=self._cutoff
                    )
                    if alias is not None:
                        entries = aliases.fuzzy[alias[0]]
                        confidence = 0.9 * ALIAS_CONFIDENCE * alias[1] / 100
                        out.extend(self._links(entries, span, confidence, True))
        return out
