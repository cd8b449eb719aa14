"""The protocols' splits: seeded, and no held-out pair ever reaches training."""

from __future__ import annotations

import numpy as np

from recommend.datasets.lastfm import LastFMKG
from recommend.evaluation.splits import cold_item_split, ctr_split, topk_split


def pairs(matrix: object) -> set[tuple[int, int]]:
    coo = matrix.tocoo()  # type: ignore[attr-defined]
    return {(int(u), int(i)) for u, i, v in zip(coo.row, coo.col, coo.data, strict=True) if v}


def held_pairs(held: dict[int, set[int]]) -> set[tuple[int, int]]:
    return {(u, i) for u, items in held.items() for i in items}


def test_topk_split_has_no_leakage(sample: LastFMKG) -> None:
    data = sample.interactions
    split = topk_split(data, seed=0)
    everything = pairs(data.matrix)
    train, full = pairs(split.train.matrix), pairs(split.train_full.matrix)
    test, validation = held_pairs(split.test), held_pairs(split.validation)
    assert not (test & full) and not (validation & train) and not (test & validation)
    assert full == everything - test and train == full - validation
    counts = np.diff(data.matrix.indptr)
    assert set(split.test) == {u for u, c in enumerate(counts) if c >= 5} == set(split.validation)
    for user, items in split.test.items():
        assert len(items) == max(1, round(0.2 * counts[user]))
    assert split.train.users == data.users and split.train.items == data.items


def test_topk_split_is_seeded(sample: LastFMKG) -> None:
    a, b = topk_split(sample.interactions, seed=1), topk_split(sample.interactions, seed=1)
    assert a.test == b.test and a.validation == b.validation
    assert topk_split(sample.interactions, seed=2).test != a.test


def test_ctr_split(sample: LastFMKG) -> None:
    data = sample.interactions
    split = ctr_split(data, seed=0)
    everything = pairs(data.matrix)
    users = np.concatenate([split.validation[0], split.test[0]])
    items = np.concatenate([split.validation[1], split.test[1]])
    labels = np.concatenate([split.validation[2], split.test[2]])
    held_positive = {(int(u), int(i)) for u, i, y in zip(users, items, labels, strict=True) if y}
    held_negative = {
        (int(u), int(i)) for u, i, y in zip(users, items, labels, strict=True) if not y
    }
    assert held_positive <= everything and not (held_negative & everything)
    assert not (held_positive & pairs(split.train.matrix))
    total = len(everything) * 2  # one sampled negative per positive
    assert (
        abs(len(split.test[0]) - 0.2 * total) <= 1
        and abs(len(split.validation[0]) - 0.2 * total) <= 1
    )


def test_cold_items_have_no_training_interactions(sample: LastFMKG) -> None:
    data = sample.interactions
    split = cold_item_split(data, seed=0)
    counts = np.diff(split.train.matrix.tocsc().indptr)
    assert (counts[split.cold_items] == 0).all()
    assert len(split.cold_items) == round(0.1 * len(data.items))
    held = held_pairs(split.test)
    assert {i for _, i in held} <= set(split.cold_items.tolist())
    assert held == {(u, i) for u, i in pairs(data.matrix) if i in set(split.cold_items.tolist())}
    assert split.train.items == data.items  # cold items stay in the catalogue
