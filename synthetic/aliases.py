"""A starting set of catalogue aliases from the generator's vocabulary, with a held-out part.

Shoppers' other words for a class (``couch`` for Sofas: a class's ``alt_nouns`` and
``query_nouns``) and for an attribute value (``grey`` for gray, ``boho`` for bohemian,
``wicker`` for rattan: the surface forms of ``vocab.yaml``) are what the query generator
writes into queries of every split. Seeding all of them into the graph would hand the
evaluation the generator's own dictionary. So each (entity, word) pair is assigned, by a
stable hash, to the seeded part (two in three) or the held-out part (one in three): a
held-out word never becomes an alias, and the test queries that use it measure search
without the graph's help, as a shopper's word the catalogue team has not added yet would.

Only words that say something new are candidates: not the entity's own name, and not a
word the analyser already maps to it (``couches`` -> ``sofa`` by stemming and synonyms).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from search.analysis import Analyzer, fold
from synthetic.vocab import Vocabulary, vocabulary

__all__ = ["HELD_OUT_SHARE", "AliasSeed", "alias_seeds"]

#: One in this many (entity, word) pairs is held out (never seeded).
HELD_OUT_EVERY = 3
HELD_OUT_SHARE = 1 / HELD_OUT_EVERY


@dataclass(frozen=True, slots=True)
class AliasSeed:
    """One candidate alias. ``names``: what the entity may be called in the catalogue
    (a category's path; an attribute value's canonical and surface forms, display first)."""

    kind: Literal["category", "attribute"]
    key: str | None  # the attribute key (feature key) for an attribute value
    names: tuple[str, ...]
    alias: str
    held_out: bool


def _held_out(target: str, alias: str) -> bool:
    digest = hashlib.sha256(f"{target}\n{alias}".encode()).digest()
    return digest[0] % HELD_OUT_EVERY == 0


def _new_words(names: Sequence[str], words: Sequence[str], analyzer: Analyzer) -> Iterator[str]:
    """The ``words`` that are neither a name nor analysed into a name's tokens."""
    taken = {fold(n).strip() for n in names}
    tokens = {tuple(analyzer.tokens(n)) for n in names}
    seen: set[str] = set()
    for word in words:
        text = " ".join(fold(word).split())
        if not text or text in taken or text in seen or tuple(analyzer.tokens(text)) in tokens:
            continue
        seen.add(text)
        yield text


def _value_tables(
    vocab: Vocabulary,
) -> Mapping[str, Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]]:
    """Attribute kind -> canonical value -> (names, surface words)."""
    tables: dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]] = {}
    for kind, table in (
        ("color", vocab.color_words),
        ("style", vocab.style_words),
        ("shape", vocab.shape_words),
        ("pattern", vocab.pattern_words),
        ("finish", vocab.finish_words),
    ):
        tables[kind] = {value: ((value,), tuple(words)) for value, words in table.items()}
    tables["material"] = {
        value: ((m.display, value), tuple(m.words)) for value, m in vocab.materials.items()
    }
    return tables


def alias_seeds(
    vocab: Vocabulary | None = None, analyzer: Analyzer | None = None
) -> list[AliasSeed]:
    """Every candidate alias of the vocabulary, each marked seeded or held out."""
    vocab = vocab or vocabulary()
    analyzer = analyzer or Analyzer()
    out: list[AliasSeed] = []
    for spec in vocab.classes:
        names: tuple[str, ...] = (spec.path[-1], spec.name, spec.noun)
        target = "category:" + " / ".join(spec.path)
        for word in _new_words(names, (*spec.alt_nouns, *spec.query_nouns), analyzer):
            out.append(AliasSeed("category", None, tuple(spec.path), word, _held_out(target, word)))
    for kind, table in _value_tables(vocab).items():
        key = vocab.feature_keys.get(kind, kind)
        for value, (names, words) in sorted(table.items()):
            target = f"{key}={value}"
            for word in _new_words(names, words, analyzer):
                out.append(AliasSeed("attribute", key, names, word, _held_out(target, word)))
    return out
