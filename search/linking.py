"""Entity linking: spans of a query -> brand, category and attribute-value entities.

The lexicon is built from the catalogue's own entities (their names as the graph holds
them), never from the demo generator's vocabulary. Matching runs on analysed tokens, so
plurals and the analyser's synonyms match (``couches`` -> the ``Sofas`` category); spans
that match nothing exactly are tried fuzzily (rapidfuzz ratio on the folded words) to
survive misspellings. Each link carries a confidence in (0, 1].
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

from kg.documents import ProductDocument
from kg.schema import EntityKind, attribute_id, brand_id, category_id
from search.analysis import Analyzer, fold

__all__ = ["EntityLink", "EntityLinker", "LexiconEntry"]

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
        self._choices: list[str] = []
        self.add(entries)

    def add(self, entries: Iterable[LexiconEntry]) -> None:
        """Learn entity names (new brands or attribute values from catalog edits)."""
        for entry in entries:
            if entry in self._known:
                continue
            self._known.add(entry)
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
        self.add(_entries(documents))

    @classmethod
    def from_documents(
        cls, documents: Iterable[ProductDocument], *, analyzer: Analyzer
    ) -> EntityLinker:
        return cls(entries=_entries(documents), analyzer=analyzer)

    def __len__(self) -> int:
        return sum(len(v) for v in self._exact.values())

    def link(self, query: str) -> list[EntityLink]:
        links: list[EntityLink] = []
        words = fold(query).split()
        tokens = list(_dedupe(self._analyzer.tokens(query)))
        used = [False] * len(tokens)
        i = 0
        while i < len(tokens):
            for n in range(min(_MAX_SPAN, len(tokens) - i), 0, -1):
                entries = self._exact.get(tuple(tokens[i : i + n]))
                if entries:
                    links.extend(self._links(entries, " ".join(tokens[i : i + n]), 1.0, False))
                    used[i : i + n] = [True] * n
                    i += n
                    break
            else:
                i += 1
        if not all(used):
            links.extend(self._scattered(tokens, used))
            links.extend(self._fuzzy(words, {t for t, u in zip(tokens, used, strict=True) if u}))
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

    def _fuzzy(self, words: Sequence[str], matched_tokens: set[str]) -> list[EntityLink]:
        out: list[EntityLink] = []
        for n in (3, 2, 1):
            for i in range(len(words) - n + 1):
                span = " ".join(words[i : i + n])
                if len(span) < 4 or set(self._analyzer.tokens(span)) <= matched_tokens:
                    continue
                hit = process.extractOne(
                    span, self._choices, scorer=fuzz.ratio, score_cutoff=self._cutoff
                )
                if hit is None:
                    continue
                name, score, _ = hit
                out.extend(self._links(self._names[name], span, 0.9 * score / 100, True))
        return out
