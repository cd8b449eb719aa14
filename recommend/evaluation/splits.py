"""The seeded splits of the three protocols. Each returns training interactions (a copy of
the data with held-out pairs removed: same users, same items, in the same order) and the
held-out pairs as ``{user row: {item column, ...}}``; held-out pairs are never in training.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from recommend.base import Interactions

__all__ = [
    "CTRSplit",
    "ColdItemSplit",
    "TopKSplit",
    "cold_item_split",
    "ctr_split",
    "topk_split",
    "without_pairs",
]

Held = dict[int, set[int]]


@dataclass(frozen=True)
class TopKSplit:
    #: train without validation (tuning) and the full train (final models)
    train: Interactions
    validation: Held
    train_full: Interactions
    test: Held


@dataclass(frozen=True)
class CTRSplit:
    train: Interactions
    #: ``(user row, item column, label)`` arrays
    validation: tuple[np.ndarray, np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ColdItemSplit:
    train: Interactions
    cold_items: np.ndarray
    test: Held


def without_pairs(data: Interactions, held: Held) -> Interactions:
    """``data`` with the ``held`` pairs removed (the matrix entries set to 0 and dropped)."""
    matrix = data.matrix.tolil(copy=True)
    for user, items in held.items():
        for item in items:
            matrix[user, item] = 0
    out = matrix.tocsr()
    out.eliminate_zeros()
    times = None
    if data.times is not None:
        times = data.times.multiply(out > 0).tocsr()
    return Interactions(users=data.users, items=data.items, matrix=out, times=times)


def _user_items(data: Interactions) -> list[np.ndarray]:
    m = data.matrix.tocsr()
    m.eliminate_zeros()
    return [m.indices[m.indptr[u] : m.indptr[u + 1]].copy() for u in range(m.shape[0])]


def topk_split(
    data: Interactions,
    *,
    seed: int,
    test_share: float = 0.2,
    validation_share: float = 0.1,
    min_items: int = 5,
) -> TopKSplit:
    """Per user with at least ``min_items`` items: a seeded ``test_share`` of their items is
    test, and ``validation_share`` of the rest is validation (at least one each). Users with
    fewer items keep all of them in training and are not evaluated."""
    rng = np.random.default_rng(seed)
    test: Held = {}
    validation: Held = {}
    for user, items in enumerate(_user_items(data)):
        if len(items) < min_items:
            continue
        shuffled = rng.permutation(np.sort(items))
        n_test = max(1, round(test_share * len(items)))
        rest = shuffled[n_test:]
        n_val = max(1, round(validation_share * len(rest)))
        test[user] = {int(i) for i in shuffled[:n_test]}
        validation[user] = {int(i) for i in rest[:n_val]}
    train_full = without_pairs(data, test)
    train = without_pairs(train_full, validation)
    return TopKSplit(train=train, validation=validation, train_full=train_full, test=test)


def ctr_split(
    data: Interactions, *, seed: int, shares: tuple[float, float, float] = (0.6, 0.2, 0.2)
) -> CTRSplit:
    """KGCN's protocol: every positive pair plus, per user, as many negatives drawn
    uniformly from the items they did not interact with; the labelled pairs are shuffled
    and split ``shares`` (6:2:2). Training keeps only the positive pairs of its part."""
    rng = np.random.default_rng(seed)
    n_items = len(data.items)
    users, items, labels = [], [], []
    for user, positives in enumerate(_user_items(data)):
        if len(positives) == 0:
            continue
        pool = np.setdiff1d(np.arange(n_items), positives, assume_unique=False)
        negatives = rng.choice(pool, size=min(len(positives), len(pool)), replace=False)
        users += [user] * (len(positives) + len(negatives))
        items += [*positives.tolist(), *negatives.tolist()]
        labels += [1] * len(positives) + [0] * len(negatives)
    order = rng.permutation(len(users))
    u, i, y = (np.asarray(a)[order] for a in (users, items, labels))
    n_train = round(shares[0] * len(u))
    n_val = round(shares[1] * len(u))
    parts = [slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, None)]
    held: Held = {}
    for part in parts[1:]:
        for user, item, label in zip(u[part], i[part], y[part], strict=True):
            if label:
                held.setdefault(int(user), set()).add(int(item))
    train = without_pairs(data, held)
    return CTRSplit(
        train=train,
        validation=(u[parts[1]], i[parts[1]], y[parts[1]]),
        test=(u[parts[2]], i[parts[2]], y[parts[2]]),
    )


def cold_item_split(data: Interactions, *, seed: int, share: float = 0.1) -> ColdItemSplit:
    """A seeded ``share`` of the items with interactions becomes cold: all their pairs leave
    training (the items stay in the catalogue and the graph) and are the test pairs."""
    rng = np.random.default_rng(seed)
    counts = np.diff(data.matrix.tocsc().indptr)
    warm = np.flatnonzero(counts > 0)
    cold = np.sort(rng.choice(warm, size=max(1, round(share * len(warm))), replace=False))
    csc = data.matrix.tocsc()
    test: Held = {}
    for item in cold:
        for user in csc.indices[csc.indptr[item] : csc.indptr[item + 1]]:
            test.setdefault(int(user), set()).add(int(item))
    return ColdItemSplit(train=without_pairs(data, test), cold_items=cold, test=test)
