"""Product generation for the demo catalogue: names, descriptions, features, prices.

One :class:`ProductMaker` draws every product from a single seeded ``random.Random``. The
text is noisy on purpose (see :mod:`synthetic.generator`): colour in the name about half the
time and often as a shade, material sometimes only in the description or the features,
synonym class nouns, decoy colours in descriptions and ~3% of names with a typo.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from functools import cache
from typing import Final

from ingest.records import ProductRecord
from synthetic.querygen import GenProduct
from synthetic.typos import misspell_word
from synthetic.vocab import ClassSpec, Vocabulary, vocabulary

__all__ = ["ProductMaker"]

_NAME_TYPO_RATE: Final = 0.03
_COLOR_IN_NAME: Final = 0.5
_WIDTH_JITTER: Final = (-0.75, -0.5, -0.25, 0.0, 0.0, 0.0, 0.25, 0.5)
_NAME_RATE: Final[Mapping[str, float]] = {
    "size": 0.45,
    "width": 0.4,
    "length": 0.35,
    "drawers": 0.5,
    "lights": 0.5,
    "seats": 0.3,
    "pieces": 0.7,
    "style": 0.15,
    "shape": 0.3,
    "pattern": 0.3,
    "material": 0.35,
    "finish": 0.45,
}
_ARTICLE: Final = re.compile(r"\b([Aa]) (?!one)([aeiouAEIOU])")
_COUNT_NAME_FORMS: Final[Mapping[str, tuple[str, ...]]] = {
    "drawers": ("{n} Drawer", "{n}-Drawer", "{n} Drawer"),
    "lights": ("{n}-Light", "{n} Light", "{n} - Light"),
    "seats": ("{n} Seater", "{n}-Seat", "{n} Seat"),
    "pieces": ("{n} Piece", "{n}-Piece", "{n} Pc."),
}


@cache
def _reserved_words() -> frozenset[str]:
    vocab = vocabulary()
    words: set[str] = set()
    for spec in vocab.classes:
        for text in (spec.name, spec.noun, *spec.alt_nouns, *spec.query_nouns, *spec.modifiers):
            words.update(text.lower().split())
    for table in (
        vocab.color_words,
        vocab.color_shades,
        vocab.style_words,
        vocab.shape_words,
        vocab.pattern_words,
        vocab.finish_words,
    ):
        for surfaces in table.values():
            for s in surfaces:
                words.update(s.split())
    for material in vocab.materials.values():
        for s in material.words:
            words.update(s.split())
    return frozenset(words)


def _title(text: str) -> str:
    return "-".join(
        " ".join(w[:1].upper() + w[1:] for w in part.split(" ")) for part in text.split("-")
    )


class ProductMaker:
    """Makes products one at a time; brands are chosen among those selling in the
    class's department, collections are reused within a brand."""

    def __init__(self, rng: random.Random, brand_depts: Mapping[str, tuple[str, ...]]) -> None:
        self.rng = rng
        self.vocab: Vocabulary = vocabulary()
        popularity = list(range(len(self.vocab.brands)))
        rng.shuffle(popularity)
        self.brands_by_dept: dict[str, tuple[list[str], list[float]]] = {}
        for brand, rank in zip(self.vocab.brands, popularity, strict=True):
            for dept in brand_depts[brand]:
                names, weights = self.brands_by_dept.setdefault(dept, ([], []))
                names.append(brand)
                weights.append(1.0 / (1 + rank) ** 0.6)
        self.collections: dict[str, list[str]] = {}
        self.collection_uses: dict[str, int] = {}
        self.used_names: set[str] = set()

    # -- pieces

    def _model_name(self) -> str:
        rng = self.rng
        reserved = _reserved_words()
        for _ in range(50):
            middle = rng.choice(("", "", "", "a", "e", "i", "o", "er", "an"))
            name = (
                rng.choice(self.vocab.model_name_onsets)
                + middle
                + rng.choice(self.vocab.model_name_endings)
            )
            if name not in self.used_names and name.lower() not in reserved:
                self.used_names.add(name)
                return name
        return rng.choice(sorted(self.used_names)) if self.used_names else "Alton"

    def _collection(self, brand: str) -> str:
        names = self.collections.setdefault(brand, [])
        uses = self.collection_uses.get(brand, 0)
        self.collection_uses[brand] = uses + 1
        if not names or self.rng.random() < 2.5 / (2.5 + uses):
            names.append(self._model_name())
            return names[-1]
        return self.rng.choice(names)

    def _facts(self, spec: ClassSpec) -> dict[str, str]:
        facts: dict[str, str] = {}
        for kind, pool in spec.attrs.items():
            value = self.rng.choice(pool)
            if kind in self.vocab.numeric_tolerance:
                value = f"{float(value) + self.rng.choice(_WIDTH_JITTER):g}"
            facts[kind] = value
        return facts

    def _name_word(self, kind: str, value: str, spec: ClassSpec) -> str:
        rng = self.rng
        if kind == "color":
            if rng.random() < 0.55:
                return _title(rng.choice(self.vocab.color_words[value]))
            return _title(rng.choice(self.vocab.color_shades[value]))
        if kind == "material":
            if self.vocab.materials[value].parent == "upholstered" and rng.random() < 0.25:
                return "Upholstered"
            return _title(rng.choice(self.vocab.materials[value].words))
        if kind in self.vocab.numeric_tolerance:
            nominal = min(spec.attrs[kind], key=lambda v: abs(float(v) - float(value)))
            return rng.choice(('{n}"', "{n} Inch", "{n}''", '{n}"')).format(n=nominal)
        if kind in _COUNT_NAME_FORMS:
            return rng.choice(_COUNT_NAME_FORMS[kind]).format(n=value)
        if kind == "size":
            return self.vocab.sizes[value].display
        words = {
            "style": self.vocab.style_words,
            "shape": self.vocab.shape_words,
            "pattern": self.vocab.pattern_words,
            "finish": self.vocab.finish_words,
        }[kind]
        return _title(rng.choice(words[value]))

    def _name(
        self, spec: ClassSpec, facts: Mapping[str, str], collection: str
    ) -> tuple[str, set[str]]:
        rng = self.rng
        parts = [collection]
        said: set[str] = set()
        order = (
            "width",
            "length",
            "drawers",
            "lights",
            "seats",
            "pieces",
            "size",
            "style",
            "color",
            "shape",
            "pattern",
            "material",
            "finish",
        )
        for kind in order:
            if kind == "color" and spec.modifiers and rng.random() < 0.3:
                parts.append(rng.choice(spec.modifiers))
            if kind not in facts:
                continue
            rate = _COLOR_IN_NAME if kind == "color" else _NAME_RATE[kind]
            if rng.random() < rate:
                word = self._name_word(kind, facts[kind], spec)
                parts.append(word)
                if word != "Upholstered":  # names the kind of material, not the material
                    said.add(kind)
        parts.append(spec.noun if rng.random() < 0.65 else rng.choice(spec.alt_nouns))
        words = " ".join(parts).split(" ")
        if rng.random() < _NAME_TYPO_RATE:
            # Any word but the collection name (first) may be mistyped.
            slots = [k for k, w in enumerate(words) if k > 0 and len(w) >= 4 and w.isalpha()]
            if slots:
                k = rng.choice(slots)
                words[k] = misspell_word(words[k], rng)
        return " ".join(words), said

    def _value_text(self, kind: str, value: str) -> str:
        rng = self.rng
        if kind == "color":
            table = self.vocab.color_words if rng.random() < 0.7 else self.vocab.color_shades
            return rng.choice(table[value])
        if kind == "material":
            return rng.choice(self.vocab.materials[value].words)
        if kind == "style":
            return rng.choice(self.vocab.style_words[value])
        if kind == "size":
            return self.vocab.sizes[value].display
        return value

    def _description(
        self,
        spec: ClassSpec,
        facts: Mapping[str, str],
        said_in_name: set[str],
        brand: str,
        collection: str,
    ) -> tuple[str, set[str]]:
        rng = self.rng
        t = self.vocab.description_templates
        said: set[str] = set()
        style = (
            self._value_text("style", facts["style"])
            if "style" in facts
            else rng.choice(self.vocab.generic_style_words)
        )
        opener = rng.choice(t["opener"])
        if "{style}" in opener and "style" in facts:
            said.add("style")
        slots = {
            "noun": rng.choice((spec.noun, *spec.alt_nouns)).lower(),
            "room": rng.choice(spec.rooms),
            "style": style,
            "collection": collection,
            "brand": brand,
        }
        extra: list[tuple[str, str]] = []
        for kind, value in facts.items():
            if kind in ("shape", "pattern", "finish"):
                continue
            if kind in ("color", "material", "style"):
                rate = 0.3 if kind in said_in_name else 0.55
                if kind == "style" and "style" in said:
                    continue
            else:
                rate = 0.35
            if rng.random() < rate:
                text = self._value_text(kind, value)
                extra.append((kind, rng.choice(t[kind]).format(value=text, **{kind: text})))
        if "color" in facts and rng.random() < 0.15:
            decoy = rng.choice(
                [
                    c
                    for c in (
                        "blue",
                        "gray",
                        "green",
                        "white",
                        "black",
                        "navy",
                        "pink",
                        "yellow",
                        "beige",
                    )
                    if c != facts["color"]
                ]
            )
            extra.append(
                (
                    "decoy",
                    rng.choice(t["decoy"]).format(decoy=rng.choice(self.vocab.color_words[decoy])),
                )
            )
        if rng.random() < 0.4:
            extra.append(("care", rng.choice(t["care"])))
        rng.shuffle(extra)
        extra = extra[:3]
        said.update(kind for kind, _ in extra)
        sentences = [opener.format(**slots), *(s for _, s in extra)]
        text = " ".join(s[:1].upper() + s[1:] for s in sentences)
        return _ARTICLE.sub(r"\1n \2", text), said

    def _display(self, kind: str, value: str) -> str:
        if kind == "color":
            return _title(self.rng.choice(self.vocab.color_words[value]))
        if kind == "material":
            return self.vocab.materials[value].display
        if kind == "size":
            return self.vocab.sizes[value].display
        if kind in ("style", "shape", "pattern", "finish"):
            return _title(value)
        return value

    def _features(
        self, spec: ClassSpec, facts: Mapping[str, str], said: set[str]
    ) -> dict[str, str]:
        rng = self.rng
        features: dict[str, str] = {}
        for kind, value in facts.items():
            if kind not in said or rng.random() < 0.85:
                features[self.vocab.feature_keys[kind]] = self._display(kind, value)
        target = rng.randint(3, 8)
        pool = [*spec.extras.items(), *self.vocab.common_features.items()]
        rng.shuffle(pool)
        for key, values in pool:
            if len(features) >= target:
                break
            features.setdefault(key, rng.choice(values))
        return features

    def _price(self, spec: ClassSpec) -> float:
        rng = self.rng
        lo, hi = spec.price
        raw = math.exp(rng.uniform(math.log(lo), math.log(hi)))
        r = rng.random()
        if r < 0.7:
            return math.floor(raw) + 0.99
        if r < 0.9:
            return float(max(1, round(raw)))
        return math.floor(raw) + (0.49 if raw < 20 else 0.95)

    def _ratings(self) -> tuple[int, float | None, int]:
        rng = self.rng
        if rng.random() < 0.28:
            return 0, None, 0
        count = min(25_000, int(rng.lognormvariate(1.6, 1.7)) + 1)
        spread = 0.9 if count < 5 else 0.45
        average = round(min(5.0, max(1.0, rng.gauss(4.3, spread))), 1)
        reviews = int(count * rng.uniform(0.25, 0.95))
        return count, average, reviews

    # -- one product

    def make(self, index: int, spec: ClassSpec) -> tuple[GenProduct, ProductRecord]:
        rng = self.rng
        names, weights = self.brands_by_dept[spec.path[0]]
        brand = rng.choices(names, weights=weights)[0]
        collection = self._collection(brand)
        facts = self._facts(spec)
        name, in_name = self._name(spec, facts, collection)
        description, in_description = self._description(spec, facts, in_name, brand, collection)
        features = self._features(spec, facts, in_name | in_description)
        path = spec.path
        if len(path) >= 3 and rng.random() < 0.05:
            path = path[:-1]
        count, average, reviews = self._ratings()
        record = ProductRecord(
            product_id=f"P{index + 1:06d}",
            name=name,
            product_class=spec.name,
            category_path=path,
            description=description,
            features=features,
            brand=brand,
            price=self._price(spec),
            rating_count=count,
            average_rating=average,
            review_count=reviews,
        )
        return GenProduct(index, spec, brand, facts, name), record
