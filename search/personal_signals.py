"""The personal signals of candidates for one shopper: how each product fits a
:class:`~search.personal.ShopperProfile`. The ranker's personal features
(``ranker.features``, group ``personal``) read them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kg.documents import ProductDocument
from kg.schema import attribute_id
from ranker.candidates import Array, CandidateSet
from search.personal import ShopperProfile

__all__ = ["MAX_PRICE_FIT", "personal_signals", "with_personal_signals"]

#: Price gaps are clipped here: a product 4 spreads away is as far as it needs to be.
MAX_PRICE_FIT = 4.0


def personal_signals(
    ids: Sequence[str], documents: Mapping[str, ProductDocument], profile: ShopperProfile
) -> dict[str, Array]:
    """One array per personal signal, aligned with ``ids`` (every id must be in
    ``documents``)."""
    n = len(ids)
    brand, category, attribute = np.zeros(n), np.zeros(n), np.zeros(n)
    price_fit, price_gap = np.zeros(n), np.zeros(n)
    seen, bought = np.zeros(n), np.zeros(n)
    center, spread = profile.price_center, profile.price_spread
    for i, pid in enumerate(ids):
        doc = documents[pid]
        if doc.brand:
            brand[i] = profile.brands.get(doc.brand, 0.0)
        category[i] = max((profile.categories.get(c, 0.0) for c in doc.category_path), default=0.0)
        attribute[i] = max(
            (profile.attributes.get(attribute_id(k, v), 0.0) for k, v in doc.attributes.items()),
            default=0.0,
        )
        if center is not None and spread is not None and doc.price is not None and doc.price > 0:
            gap = (math.log(doc.price) - center) / spread
            price_gap[i] = max(-MAX_PRICE_FIT, min(MAX_PRICE_FIT, gap))
            price_fit[i] = abs(price_gap[i])
        seen[i] = pid in profile.seen
        bought[i] = pid in profile.bought
    return {
        "personal_brand": brand,
        "personal_category": category,
        "personal_attribute": attribute,
        "personal_price_fit": price_fit,
        "personal_price_gap": price_gap,
        "personal_seen": seen,
        "personal_bought": bought,
    }


def with_personal_signals(
    candidates: CandidateSet, documents: Mapping[str, ProductDocument], profile: ShopperProfile
) -> CandidateSet:
    """``candidates`` with the personal signals of ``profile`` added."""
    extra = personal_signals(candidates.product_ids, documents, profile)
    return CandidateSet(candidates.product_ids, {**candidates.signals, **extra})
