"""Catalogue records: the typed rows every catalogue format is read into.

The column names follow Wayfair's WANDS dataset (``product.csv``, ``query.csv``,
``label.csv``); the extra columns the demo generator writes (``brand``, ``price``,
``kind``, ``split``) are optional, so real WANDS files read unchanged.
"""

from __future__ import annotations

import unicodedata
from enum import IntEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "MAX_COUNT",
    "Grade",
    "LabelRecord",
    "ProductRecord",
    "QueryKind",
    "QueryRecord",
    "Split",
]

Split = Literal["train", "valid", "test"]
QueryKind = Literal["category", "brand", "attribute", "descriptive", "misspelled", "other"]

NonEmpty = Annotated[str, Field(min_length=1, max_length=2_000)]
#: The largest count a catalogue row may carry (ratings, reviews): far above any real shop,
#: and small enough that every number derived from it (log1p, sums, float64) stays finite.
MAX_COUNT = 1_000_000_000
Count = Annotated[int, Field(ge=0, le=MAX_COUNT)]


class Grade(IntEnum):
    """Graded relevance with WANDS' labels: Exact 2, Partial 1, Irrelevant 0."""

    IRRELEVANT = 0
    PARTIAL = 1
    EXACT = 2

    @classmethod
    def from_label(cls, label: str) -> Grade:
        try:
            return {"exact": cls.EXACT, "partial": cls.PARTIAL, "irrelevant": cls.IRRELEVANT}[
                label.strip().lower()
            ]
        except KeyError:
            raise ValueError(
                f"unknown label {label!r}: expected one of Exact, Partial, Irrelevant"
            ) from None

    @property
    def label(self) -> str:
        return self.name.capitalize()


def _reject_control_chars(value: str) -> str:
    bad = [c for c in value if unicodedata.category(c) == "Cc" and c not in "\t\n"]
    if bad:
        raise ValueError(f"contains control character {bad[0]!r}; remove it")
    return value


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class ProductRecord(_Record):
    """One catalogue product, as read from WANDS ``product.csv`` or JSONL."""

    product_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
    name: NonEmpty
    product_class: Annotated[str, Field(max_length=200)] = ""
    category_path: tuple[Annotated[str, Field(min_length=1, max_length=200)], ...] = ()
    description: Annotated[str, Field(max_length=20_000)] = ""
    features: dict[
        Annotated[str, Field(min_length=1, max_length=100)],
        Annotated[str, Field(min_length=1, max_length=500)],
    ] = Field(default_factory=dict)
    brand: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    price: Annotated[float, Field(ge=0, le=10_000_000, allow_inf_nan=False)] | None = None
    rating_count: Count = 0
    average_rating: Annotated[float, Field(ge=0, le=5, allow_inf_nan=False)] | None = None
    review_count: Count = 0

    _no_control = field_validator("name", "description", "product_class")(_reject_control_chars)


class QueryRecord(_Record):
    """One judged query (WANDS ``query.csv``), optionally with its kind and split."""

    query_id: Annotated[str, Field(min_length=1, max_length=64)]
    query: NonEmpty
    query_class: str = ""
    kind: QueryKind | None = None
    split: Split | None = None


class LabelRecord(_Record):
    """One relevance judgment (WANDS ``label.csv``)."""

    query_id: Annotated[str, Field(min_length=1, max_length=64)]
    product_id: Annotated[str, Field(min_length=1, max_length=64)]
    grade: Grade
