"""How well does a shopper's history reveal their favourite brands? (issue 13)

On a demo home's simulated log (``kgsearch demo``: shoppers of seed ``--seed`` with
favourite brands drawn by :func:`synthetic.behaviour.make_users`), every (shopper, brand
shown to them) pair is scored two ways and compared with the truth by ROC AUC:

- *affinity*: the profile's engagement weight of the brand (views 0.5, clicks 1, carts 3,
  purchases 5; :data:`search.personal.PROFILE_EVENT_WEIGHTS`);
- *lift*: clicks on the brand over the clicks its share of the shopper's impressions
  predicts, ``log((clicks_b + 1) / (clicks * shown_b / shown + 1))``.

An AUC near 0.5 means the history says little about the favourites, whatever feature
reads it. ``python benchmarks/favourite_brand_signal.py --home /tmp/home5k``
"""

from __future__ import annotations

import argparse
import json
import math
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from ingest.events import read_events
from ingest.formats import read_products
from search.personal import PROFILE_EVENT_WEIGHTS
from synthetic.behaviour import SimulatorConfig, make_users


def roc_auc(labels: list[bool], scores: list[float]) -> float:
    """Area under the ROC curve: the chance that a random positive outscores a random
    negative (ties count half), from the Mann-Whitney rank sum."""
    positive = np.asarray(labels, dtype=bool)
    ranks = rankdata(scores)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--users", type=int, default=400, help="shoppers the demo simulated")
    parser.add_argument("--seed", type=int, default=13, help="the demo's catalogue seed")
    args = parser.parse_args()
    products = {
        p.product_id: p for p in read_products(args.home / "catalogue" / "product.csv").records
    }
    truth = {
        u.user_id: u.favourite_brands
        for u in make_users(products, SimulatorConfig(users=args.users, seed=args.seed))
    }
    shown: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    clicks: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    engaged: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for event in read_events(args.home / "events.jsonl").records:
        product = products.get(event.product_id)
        if product is None or not product.brand or event.user_id not in truth:
            continue
        if event.type == "impression":
            shown[event.user_id][product.brand] += 1.0
        elif event.type == "click":
            clicks[event.user_id][product.brand] += 1.0
        engaged[event.user_id][product.brand] += PROFILE_EVENT_WEIGHTS.get(event.type, 0.0)
    labels: list[bool] = []
    affinity: list[float] = []
    lift: list[float] = []
    for user, brands in shown.items():
        total_shown, total_clicks = sum(brands.values()), sum(clicks[user].values())
        for brand, count in brands.items():
            labels.append(brand in truth[user])
            affinity.append(engaged[user].get(brand, 0.0))
            expected = total_clicks * count / total_shown
            lift.append(math.log((clicks[user].get(brand, 0.0) + 1.0) / (expected + 1.0)))
    print(
        json.dumps(
            {
                "pairs": len(labels),
                "favourite_share": round(sum(labels) / len(labels), 4),
                "auc_affinity": round(roc_auc(labels, affinity), 4),
                "auc_lift": round(roc_auc(labels, lift), 4),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
