"""Fusing the candidate sources' proposals into one ranking: weighted (the fallback) or
learned (LightGBM LambdaMART), both with per-source contributions that sum to the score.

**Weighted** (:func:`weighted_fusion`): each source's raw scores are min-max scaled to
[0, 1] over what it proposed; an item's contribution from a source is ``weight * scaled``
(0 from a source that did not propose it) and its score is their sum.

**Learned** (:class:`LearnedFusion`): per situation (``similar``, ``for_you``) a
LambdaMART model over the features of :class:`FusionSchema` — per source the scaled score
and ``1 / rank`` among its proposals (0 when it did not propose the item), and per item its
popularity ``log(1 + shoppers)``, a cold flag, and the share of the anchors (the page's
product, the shopper's items) of the same brand / leaf category. The contributions are the
model's TreeSHAP values (``pred_contrib``, as the search rankers explain theirs) summed per
source — the popularity and cold features count for ``popularity``, same brand and
category (graph facts) for ``graph`` — plus ``bias``, the model's base value: they sum to
the score.

**Training** (:func:`train_fusion`) is by time, never on what it is judged on: the sources
are fitted on the earlier part of the given events, the service built on them answers every
shopper (and every session's first product) of the later part, and what those shoppers
engaged with later are the labels (click 1, add-to-cart / purchase 2). Lists are assigned
to training or early-stopping validation by a hash of the shopper / session. The training
lists also tune the weighted fusion's weights (:func:`tune_weights`, coordinate ascent on
Recall@20); a situation keeps its model only if it beats those weights on the validation
lists (else the service uses the tuned weights there). Call it with the events *before* an
evaluation's cut (``benchmarks/recs_shop.py`` does).

A saved model (``directory/meta.json`` + one LightGBM file per situation) is refused on
load when its feature schema is not this module's (:class:`ranker.features.SchemaMismatch`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np
import numpy.typing as npt

from ranker.features import SchemaMismatch, check_schema, schema_digest
from recommend.interactions import EventLike, split_by_time
from recommend.sources import SOURCES, ItemSpace, Proposals

if TYPE_CHECKING:
    import lightgbm as lgb

    from recommend.interactions import ShopBehaviour
    from recommend.service import RecommendationService

__all__ = [
    "FUSION_SCHEMA",
    "LEARNED_SITUATIONS",
    "Case",
    "FusionModel",
    "FusionSchema",
    "ItemFacts",
    "LearnedFusion",
    "Row",
    "candidate_features",
    "collect_cases",
    "train_fusion",
    "tune_weights",
    "weighted_fusion",
]

#: (item, score, raw signals per proposing source, contributions) — contributions sum to score
Row = tuple[int, float, dict[str, float], dict[str, float]]

#: The situations a learned model is trained for (a cold shopper keeps the weighted fusion:
#: it has no history to learn from).
LEARNED_SITUATIONS = ("similar", "for_you")

#: Grades of later engagements (impressions are not engagements).
GRADES: Mapping[str, int] = {"click": 1, "add_to_cart": 2, "purchase": 2}

#: Features of the item itself, and the source their contribution counts for.
ITEM_FEATURES: Mapping[str, str] = {
    "item_popularity": "popularity",
    "item_cold": "popularity",
    "same_brand": "graph",
    "same_category": "graph",
}
_ANCHORS = 10  # anchors compared for same brand / category


class FusionModel(Protocol):
    """Ranks the proposals of the situations it covers (the service falls back to weighted
    fusion for the others)."""

    def covers(self, situation: str) -> bool: ...

    def rank(
        self,
        situation: str,
        proposals: Mapping[str, Proposals],
        anchors: Sequence[int],
        facts: ItemFacts,
    ) -> list[Row]: ...


def weighted_fusion(proposals: Mapping[str, Proposals], weights: Mapping[str, float]) -> list[Row]:
    """Rows best first (ties by item); see the module docstring."""
    signals: dict[int, dict[str, float]] = {}
    parts: dict[int, dict[str, float]] = {}
    for name, proposed in proposals.items():
        if not proposed:
            continue
        values = np.fromiter(proposed.values(), dtype=np.float64, count=len(proposed))
        low, high = float(values.min()), float(values.max())
        weight = float(weights.get(name, 0.0))
        for item, raw in proposed.items():
            scaled = (raw - low) / (high - low) if high > low else 1.0
            signals.setdefault(item, {})[name] = raw
            parts.setdefault(item, {})[name] = weight * scaled
    fused = [(item, float(sum(parts[item].values())), signals[item], parts[item]) for item in parts]
    fused.sort(key=lambda row: (-row[1], row[0]))
    return fused


# -- features ----------------------------------------------------------------------------


@dataclass(frozen=True)
class FusionSchema:
    """The ordered feature names of a learned fusion and the source each counts for."""

    sources: tuple[str, ...]

    def __post_init__(self) -> None:
        unknown = [s for s in self.sources if s not in SOURCES]
        if unknown:
            raise SchemaMismatch(f"unknown source(s) {unknown}; registered: {list(SOURCES)}")

    @property
    def names(self) -> tuple[str, ...]:
        per_source = [f"{s}_{kind}" for s in self.sources for kind in ("score", "rr")]
        return (*per_source, *ITEM_FEATURES)

    @property
    def groups(self) -> tuple[str, ...]:
        return (*(s for s in self.sources for _ in range(2)), *ITEM_FEATURES.values())

    @property
    def digest(self) -> str:
        return schema_digest(self.names)

    def check(self, names: Sequence[str], digest: str) -> None:
        """Raise :class:`SchemaMismatch` unless a saved model's schema is this one."""
        check_schema(
            self.names,
            names,
            digest,
            what="fusion model",
            retrain="`kgsearch demo` (or recommend.fusion.train_fusion)",
        )


#: The schema of models trained by this code.
FUSION_SCHEMA = FusionSchema(tuple(SOURCES))


@dataclass(frozen=True)
class ItemFacts:
    """What the item features read: brand and leaf-category codes, shoppers per item."""

    brands: npt.NDArray[np.int64]  # -1: no brand
    categories: npt.NDArray[np.int64]  # -1: no category
    engaged: npt.NDArray[np.int64]

    @classmethod
    def of(cls, space: ItemSpace, behaviour: ShopBehaviour) -> ItemFacts:
        docs = [space.documents[p] for p in space.items]
        return cls(
            brands=_codes([d.brand for d in docs]),
            categories=_codes([d.category_path[-1] if d.category_path else None for d in docs]),
            engaged=np.asarray(behaviour.engaged, dtype=np.int64),
        )


def _codes(values: Sequence[str | None]) -> npt.NDArray[np.int64]:
    seen: dict[str, int] = {}
    out = np.full(len(values), -1, dtype=np.int64)
    for i, v in enumerate(values):
        if v:
            out[i] = seen.setdefault(v, len(seen))
    return out


def candidate_features(
    proposals: Mapping[str, Proposals],
    anchors: Sequence[int],
    facts: ItemFacts,
    schema: FusionSchema = FUSION_SCHEMA,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """The proposed items (sorted) and their feature rows in ``schema`` order."""
    items = np.array(sorted({i for p in proposals.values() for i in p}), dtype=np.int64)
    where = {int(item): row for row, item in enumerate(items)}
    x = np.zeros((len(items), len(schema.names)), dtype=np.float32)
    for s, name in enumerate(schema.sources):
        proposed = proposals.get(name)
        if not proposed:
            continue
        values = np.fromiter(proposed.values(), dtype=np.float64, count=len(proposed))
        low, high = float(values.min()), float(values.max())
        ranked = sorted(proposed.items(), key=lambda kv: (-kv[1], kv[0]))
        for rank, (item, raw) in enumerate(ranked, 1):
            row = where[item]
            x[row, 2 * s] = (raw - low) / (high - low) if high > low else 1.0
            x[row, 2 * s + 1] = 1.0 / rank
    base = 2 * len(schema.sources)
    if len(items):
        engaged = facts.engaged[items]
        x[:, base] = np.log1p(engaged)
        x[:, base + 1] = engaged == 0
        near = np.asarray(anchors[:_ANCHORS], dtype=np.int64)
        if len(near):
            for offset, codes in ((2, facts.brands), (3, facts.categories)):
                mine = codes[items]
                theirs = codes[near]
                same = (mine[:, None] == theirs[None, :]) & (mine[:, None] >= 0)
                x[:, base + offset] = same.mean(axis=1)
    return items, x


# -- the learned model -------------------------------------------------------------------


class LearnedFusion:
    """One LambdaMART booster per covered situation over :data:`FUSION_SCHEMA`."""

    name: ClassVar[str] = "lambdamart-fusion"

    def __init__(
        self,
        *,
        boosters: Mapping[str, lgb.Booster],
        schema: FusionSchema = FUSION_SCHEMA,
        meta: Mapping[str, Any] | None = None,
    ) -> None:
        for situation, booster in boosters.items():
            if situation not in LEARNED_SITUATIONS:
                raise ValueError(f"unknown situation {situation!r}; use {LEARNED_SITUATIONS}")
            if booster.num_feature() != len(schema.names):
                raise SchemaMismatch(
                    f"{situation} model has {booster.num_feature()} features, the fusion "
                    f"schema has {len(schema.names)}; retrain it"
                )
        self.boosters = dict(boosters)
        self.schema = schema
        self.meta: dict[str, Any] = dict(meta or {})

    def covers(self, situation: str) -> bool:
        return situation in self.boosters

    @property
    def weights(self) -> dict[str, dict[str, float]]:
        """The weighted fusion's weights tuned on the same lists (empty if not tuned)."""
        tuned: dict[str, dict[str, float]] = self.meta.get("tuned_weights", {})
        return tuned

    def rank(
        self,
        situation: str,
        proposals: Mapping[str, Proposals],
        anchors: Sequence[int],
        facts: ItemFacts,
    ) -> list[Row]:
        from ranker.lambdamart import shap_parts

        items, x = candidate_features(proposals, anchors, facts, self.schema)
        if not len(items):
            return []
        shap = shap_parts(self.boosters[situation], x, self.schema.names)
        grouped: dict[str, npt.NDArray[np.float64]] = defaultdict(lambda: np.zeros(len(items)))
        for name, group in zip(self.schema.names, self.schema.groups, strict=True):
            grouped[group] = grouped[group] + shap[name]
        grouped["bias"] = shap["bias"]
        scores = np.sum(list(grouped.values()), axis=0)
        rows: list[Row] = []
        for row, item in enumerate(items.tolist()):
            signals = {n: p[item] for n, p in proposals.items() if item in p}
            parts = {g: float(v[row]) for g, v in grouped.items()}
            rows.append((item, float(scores[row]), signals, parts))
        rows.sort(key=lambda r: (-r[1], r[0]))
        return rows

    def save(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        for situation, booster in self.boosters.items():
            booster.save_model(str(directory / f"{situation}.txt"))
        meta = {
            **self.meta,
            "kind": self.name,
            "features": list(self.schema.names),
            "sources": list(self.schema.sources),
            "schema_digest": self.schema.digest,
            "situations": sorted(self.boosters),
        }
        (directory / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True))

    @classmethod
    def load(cls, directory: Path) -> LearnedFusion:
        """Read a saved model; raises ``FileNotFoundError`` (none saved) or
        :class:`SchemaMismatch` (trained on other features)."""
        import lightgbm as lgb

        path = directory / "meta.json"
        if not path.exists():
            raise FileNotFoundError(f"no fusion model at {directory}: run `kgsearch demo`")
        meta: dict[str, Any] = json.loads(path.read_text())
        if meta.get("kind") != cls.name:
            raise SchemaMismatch(f"{directory} holds a {meta.get('kind')!r} model, not {cls.name}")
        FUSION_SCHEMA.check(meta.get("features", []), str(meta.get("schema_digest")))
        boosters = {
            s: lgb.Booster(model_file=str(directory / f"{s}.txt")) for s in meta["situations"]
        }
        return cls(boosters=boosters, schema=FUSION_SCHEMA, meta=meta)


# -- training ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One list to learn from: what the sources proposed in ``situation`` for ``key`` (a
    shopper or a session), the anchors, and the graded items engaged with later."""

    situation: str
    key: str
    proposals: Mapping[str, Proposals]
    anchors: tuple[int, ...]
    grades: Mapping[int, int]


@dataclass
class _Recorder:
    """A fusion model that remembers what it was asked to rank (and ranks by weights)."""

    last: tuple[str, dict[str, Proposals], tuple[int, ...]] | None = field(default=None)

    def covers(self, situation: str) -> bool:
        return True

    def rank(
        self,
        situation: str,
        proposals: Mapping[str, Proposals],
        anchors: Sequence[int],
        facts: ItemFacts,
    ) -> list[Row]:
        self.last = (situation, dict(proposals), tuple(anchors))
        return weighted_fusion(proposals, {})


@contextmanager
def _recording(service: RecommendationService) -> Iterator[_Recorder]:
    recorder, before = _Recorder(), service.fusion
    service.fusion = recorder
    try:
        yield recorder
    finally:
        service.fusion = before


def collect_cases(
    service: RecommendationService, later: Sequence[EventLike], *, max_cases: int = 3000
) -> list[Case]:
    """The lists the service (fitted on earlier events) proposes for the shoppers and
    sessions of ``later`` events, labelled by what they engaged with later."""
    index = service.space.index
    engaged = [e for e in later if e.type in GRADES and e.product_id in index]
    per_user: dict[str, dict[int, int]] = defaultdict(dict)
    sessions: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
    for e in engaged:
        item, grade = index[e.product_id], GRADES[e.type]
        if e.user_id is not None:
            per_user[e.user_id][item] = max(grade, per_user[e.user_id].get(item, 0))
        if e.session_id is not None:
            sessions[e.session_id].append((e.ts, item, grade))
    cases: list[Case] = []
    with _recording(service) as recorder:
        for user in sorted(per_user)[:max_cases]:
            if user not in service.behaviour.interactions.user_index:
                continue
            bought = service.behaviour.bought(user)
            grades = {i: g for i, g in per_user[user].items() if i not in bought}
            service.for_user(user, k=1)
            if grades and recorder.last and recorder.last[0] == "for_you":
                cases.append(Case("for_you", user, recorder.last[1], recorder.last[2], grades))
        for session in sorted(sessions)[:max_cases]:
            seen = sorted(sessions[session])
            page = seen[0][1]
            grades = {}
            for _, item, grade in seen:
                if item != page:
                    grades[item] = max(grade, grades.get(item, 0))
            if not grades:
                continue
            service.similar(service.space.items[page], k=1)
            if recorder.last:
                cases.append(Case("similar", session, recorder.last[1], recorder.last[2], grades))
    return cases


def _in_valid(key: str, fraction: float) -> bool:
    digest = hashlib.sha256(f"fusion-valid:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


@dataclass(frozen=True)
class _Lists:
    x: npt.NDArray[np.float32]
    y: npt.NDArray[np.int32]
    groups: list[int]
    items: list[npt.NDArray[np.int64]]
    relevant: list[set[int]]


def _lists(
    cases: Sequence[Case], facts: ItemFacts, schema: FusionSchema, *, positive_only: bool = False
) -> _Lists:
    """Stacked feature rows of the cases' lists (``positive_only``: only the lists with a
    later-engaged item among their candidates, the only ones LambdaMART learns from)."""
    xs, ys, groups, items, relevant = [], [], [], [], []
    for case in cases:
        ids, x = candidate_features(case.proposals, case.anchors, facts, schema)
        if len(ids) < 2 or (positive_only and not any(int(i) in case.grades for i in ids)):
            continue
        xs.append(x)
        ys.append(np.array([case.grades.get(int(i), 0) for i in ids], dtype=np.int32))
        groups.append(len(ids))
        items.append(ids)
        relevant.append(set(case.grades))
    width = len(schema.names)
    return _Lists(
        np.vstack(xs) if xs else np.zeros((0, width), np.float32),
        np.concatenate(ys) if ys else np.zeros(0, np.int32),
        groups,
        items,
        relevant,
    )


def _recall(lists: _Lists, scores: npt.NDArray[np.float64], k: int = 20) -> float:
    """Mean Recall@k of ranking each list by ``scores`` (over every relevant item)."""
    if not lists.groups:
        return 0.0
    total, start = 0.0, 0
    for size, ids, rel in zip(lists.groups, lists.items, lists.relevant, strict=True):
        block = scores[start : start + size]
        order = np.lexsort((ids, -block))[:k]
        total += len(rel & set(ids[order].tolist())) / len(rel)
        start += size
    return total / len(lists.groups)


def tune_weights(
    cases: Sequence[Case],
    facts: ItemFacts,
    start: Mapping[str, float],
    *,
    grid: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8),
    rounds: int = 2,
    k: int = 20,
) -> tuple[dict[str, float], float]:
    """Weights of the weighted fusion that maximise Recall@k on ``cases`` (coordinate
    ascent over ``grid``, from ``start``), and that recall."""
    schema = FUSION_SCHEMA
    lists = _lists(cases, facts, schema)
    columns = [2 * s for s in range(len(schema.sources))]
    scaled = lists.x[:, columns].astype(np.float64)
    weights = np.array([float(start.get(s, 0.0)) for s in schema.sources])

    def recall(w: npt.NDArray[np.float64]) -> float:
        return _recall(lists, scaled @ w, k)

    best = recall(weights)
    for _ in range(rounds):
        improved = False
        for s in range(len(weights)):
            for value in grid:
                trial = weights.copy()
                trial[s] = value
                if not trial.any():
                    continue
                got = recall(trial)
                if got > best + 1e-9:
                    best, weights, improved = got, trial, True
        if not improved:
            break
    return {n: float(w) for n, w in zip(schema.sources, weights, strict=True)}, best


def train_fusion(
    events: Sequence[EventLike],
    build: Callable[[Sequence[EventLike]], RecommendationService],
    *,
    list_fraction: float = 0.25,
    valid_fraction: float = 0.25,
    seed: int = 13,
    rounds: int = 300,
    early_stopping: int = 30,
    learning_rate: float = 0.05,
    num_leaves: int = 15,
    min_lists: int = 20,
    require_gain: bool = True,
) -> LearnedFusion:
    """Fit the sources (``build``) on the events before the ``1 - list_fraction`` time
    quantile, learn from the lists of the later ones (see the module docstring). A
    situation with fewer than ``min_lists`` training lists, or (with ``require_gain``, the
    default) where the tuned weights reach a higher Recall@20 on the validation lists, gets
    no model (the service then uses the tuned weighted fusion there); the meta says why.
    ``require_gain=False`` keeps every trained model: for tests on logs too small for the
    comparison to mean anything."""
    import lightgbm as lgb

    from ranker.lambdamart import lambdarank_params

    started = time.perf_counter()
    earlier, later = split_by_time(events, test_fraction=list_fraction)
    service = build(earlier)
    facts = ItemFacts.of(service.space, service.behaviour)
    cases = collect_cases(service, later)
    boosters: dict[str, lgb.Booster] = {}
    report: dict[str, Any] = {}
    tuned: dict[str, dict[str, float]] = {}
    schema = FUSION_SCHEMA
    for situation in LEARNED_SITUATIONS:
        mine = [c for c in cases if c.situation == situation]
        fit = [c for c in mine if not _in_valid(c.key, valid_fraction)]
        valid = [c for c in mine if _in_valid(c.key, valid_fraction)]
        train_lists = _lists(fit, facts, schema, positive_only=True)
        valid_lists = _lists(valid, facts, schema, positive_only=True)
        usable = [len(train_lists.groups), len(valid_lists.groups)]
        entry: dict[str, Any] = {"lists": len(mine), "train_lists": usable[0]}
        entry["valid_lists"] = usable[1]
        start = {
            n: w
            for sit, table in service.weights.items()
            if sit == situation
            for n, w in table.items()
        }
        tuned[situation], entry["tuned_train_recall@20"] = tune_weights(fit, facts, start)
        if usable[0] < min_lists or usable[1] < 1:
            entry["skipped"] = f"{usable[0]} training lists with a later engagement < {min_lists}"
            report[situation] = entry
            continue
        params = lambdarank_params(
            seed=seed,
            learning_rate=learning_rate,
            num_leaves=num_leaves,
            eval_at=20,
            min_data_in_leaf=min(20, max(1, len(train_lists.y) // 50)),
        )
        train_set = lgb.Dataset(
            train_lists.x, train_lists.y, group=train_lists.groups, feature_name=list(schema.names)
        )
        valid_set = lgb.Dataset(
            valid_lists.x, valid_lists.y, group=valid_lists.groups, reference=train_set
        )
        booster = lgb.train(
            params,
            train_set,
            num_boost_round=rounds,
            valid_sets=[valid_set],
            valid_names=["valid"],
            callbacks=[lgb.early_stopping(early_stopping, verbose=False)],
        )
        valid_scores = np.asarray(booster.predict(valid_lists.x, num_threads=1), np.float64)
        weighted = valid_lists.x[:, [2 * s for s in range(len(schema.sources))]].astype(float)
        w = np.array([tuned[situation][s] for s in schema.sources])
        learned_recall = _recall(valid_lists, valid_scores)
        tuned_recall = _recall(valid_lists, weighted @ w)
        entry.update(
            best_iteration=booster.best_iteration,
            valid_recall_at_20=round(learned_recall, 4),
            valid_recall_at_20_tuned_weights=round(tuned_recall, 4),
        )
        if learned_recall >= tuned_recall or not require_gain:
            boosters[situation] = booster
        else:  # the validation lists prefer the tuned weights: serve those there
            entry["skipped"] = "tuned weights do better on the validation lists"
        report[situation] = entry
    meta = {
        "trained_on": {
            "events": len(events),
            "fitted_on": len(earlier),
            "lists_from": len(later),
            "cut_ts": min((e.ts for e in later), default=None),
        },
        "params": {"seed": seed, "learning_rate": learning_rate, "num_leaves": num_leaves},
        "situations_report": report,
        "tuned_weights": tuned,
        "seconds": round(time.perf_counter() - started, 2),
    }
    return LearnedFusion(boosters=boosters, schema=schema, meta=meta)
