"""Realistic typing mistakes for generated product names and shopper queries."""

from __future__ import annotations

import random

__all__ = ["misspell_text", "misspell_word", "typo_variants"]

_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")

# Sound-alike rewrites shoppers make ("chandelier" -> "shandelier", "tile" -> "tyle").
_PHONETIC: tuple[tuple[str, str], ...] = (
    ("ph", "f"),
    ("ck", "k"),
    ("ee", "ea"),
    ("ai", "ia"),
    ("ie", "ei"),
    ("ou", "o"),
    ("tion", "sion"),
    ("ch", "sh"),
    ("er", "ar"),
    ("le", "el"),
    ("au", "o"),
    ("oo", "u"),
    ("i", "y"),
    ("c", "k"),
    ("s", "z"),
)


def _neighbours(ch: str) -> str:
    for row in _KEYBOARD_ROWS:
        at = row.find(ch)
        if at >= 0:
            return row[max(0, at - 1) : at] + row[at + 1 : at + 2]
    return ""


def misspell_word(word: str, rng: random.Random) -> str:
    """One realistic mistake in ``word`` (dropped, doubled, swapped, mistyped or
    sound-alike letters). Words shorter than four letters come back unchanged."""
    if len(word) < 4 or not word.isalpha():
        return word
    lower = word.lower()
    for _ in range(8):
        op = rng.randrange(5)
        # Keep the first letter: shoppers rarely get it wrong.
        at = rng.randrange(1, len(word))
        if op == 0:
            out = word[:at] + word[at + 1 :]
        elif op == 1:
            out = word[:at] + word[at] + word[at:]
        elif op == 2 and at < len(word) - 1 and word[at] != word[at + 1]:
            out = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        elif op == 3 and _neighbours(lower[at]):
            out = word[:at] + rng.choice(_neighbours(lower[at])) + word[at + 1 :]
        elif op == 4:
            rules = [(a, b) for a, b in _PHONETIC if a in lower[1:]]
            if not rules:
                continue
            a, b = rng.choice(rules)
            pos = lower.find(a, 1)
            out = word[:pos] + b + word[pos + len(a) :]
        else:
            continue
        if out.lower() != lower:
            return out
    return word


def misspell_text(text: str, rng: random.Random, *, typos: int = 1) -> str:
    """``text`` with ``typos`` of its longer words misspelled (each at most once)."""
    words = text.split(" ")
    slots = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    rng.shuffle(slots)
    for i in slots[:typos]:
        words[i] = misspell_word(words[i], rng)
    return " ".join(words)


def typo_variants(text: str, key: str, *, seed: int = 13) -> tuple[str, ...]:
    """Misspelled copies of a training query for the learned rankers: one with a typo,
    one with two where it has two long words; seeded by ``key`` (the query id), so a
    rebuild trains on the same copies. Copies equal to ``text`` are left out.

    Why: the generator's own misspelled queries are few, so without these the ranker
    learns too little about what a corrected or fuzzily matched query looks like."""
    rng = random.Random(f"kgsearch-typo-variants:{seed}:{key}")
    long_words = sum(1 for w in text.split(" ") if len(w) >= 4 and w.isalpha())
    out: list[str] = []
    for typos in (1, 2)[: min(2, long_words)]:
        variant = misspell_text(text, rng, typos=typos)
        if variant != text and variant not in out:
            out.append(variant)
    return tuple(out)
