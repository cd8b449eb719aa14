"""The one text-analysis chain: every keyword backend indexes and queries its tokens.

Steps: Unicode NFKD + ASCII folding, lowercase, phrase synonyms (``"chest of drawers"``
-> ``"dresser"``), split on anything not a letter or digit, stopwords, Snowball English
stemming, then synonyms on stems (``couches`` -> ``couch`` -> ``sofa``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import Stemmer

__all__ = ["DEFAULT_PHRASES", "DEFAULT_STOPWORDS", "DEFAULT_SYNONYMS", "Analyzer", "fold"]

DEFAULT_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "in",
        "into",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "with",
    ]
)

#: word -> canonical word (applied before stemming).
DEFAULT_SYNONYMS: Mapping[str, str] = {
    "couch": "sofa",
    "settee": "sofa",
    "grey": "gray",
    "carpet": "rug",
    "armchair": "chair",
    "barstool": "stool",
    "bedside": "nightstand",
    "drape": "curtain",
    "faucet": "tap",
    "colour": "color",
    "wooden": "wood",
    "timber": "wood",
    "tv": "television",
    "pillow": "cushion",
}

#: multi-word phrase -> replacement, matched on folded, lowercased text.
DEFAULT_PHRASES: Mapping[str, str] = {
    "chest of drawers": "dresser",
    "bedside table": "nightstand",
    "night stand": "nightstand",
    "bar stool": "stool",
    "love seat": "loveseat",
    "coffee tables": "coffee table",
}

_SPLIT = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """NFKD-decompose, drop what is not ASCII, lowercase."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


@dataclass(frozen=True)
class Analyzer:
    """Text -> tokens. Immutable; safe to share between threads."""

    synonyms: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_SYNONYMS))
    phrases: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_PHRASES))
    stopwords: frozenset[str] = DEFAULT_STOPWORDS
    stem: bool = True

    @cached_property
    def _phrase_re(self) -> re.Pattern[str] | None:
        if not self.phrases:
            return None
        alternatives = sorted(self.phrases, key=len, reverse=True)
        return re.compile(r"\b(" + "|".join(re.escape(p) for p in alternatives) + r")\b")

    @cached_property
    def _stemmer(self) -> Stemmer.Stemmer:
        return Stemmer.Stemmer("english")

    @cached_property
    def _stem_synonyms(self) -> dict[str, str]:
        """Synonyms keyed by stem, so plurals and other inflections map too."""
        stem = self._stemmer.stemWord
        return {stem(k): stem(v) for k, v in self.synonyms.items()}

    def tokens(self, text: str) -> list[str]:
        folded = fold(text)
        if self._phrase_re is not None:
            folded = self._phrase_re.sub(lambda m: self.phrases[m.group(1)], folded)
        words = [w for w in _SPLIT.split(folded) if w and w not in self.stopwords]
        if not self.stem:
            return [self.synonyms.get(w, w) for w in words]
        synonyms = self._stem_synonyms
        return [synonyms.get(w, w) for w in self._stemmer.stemWords(words)]

    def text(self, text: str) -> str:
        """Tokens joined by spaces, for backends that index pre-analysed text."""
        return " ".join(self.tokens(text))
