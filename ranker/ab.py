"""A/B testing over behaviour logs: bucketing, per-variant summaries and lift statistics.

- :func:`assign_variant` buckets a user by a SHA-256 of (experiment, user id), so the same
  user always gets the same variant of an experiment, and experiments are independent.
- :func:`ab_report` summarises each variant's users, sessions, impressions, clicks and
  purchases, with CTR (clicks / impressions) and session conversion (sessions with a
  purchase / sessions), each with a Wilson interval, and compares every treatment with
  the control: absolute lift with an unpooled Wald interval, relative lift with a
  delta-method interval on the log ratio, and a two-sided pooled two-proportion z-test.

The z-test treats every impression (or session) as independent. Clicks of one user are
correlated, so with many impressions per user it is optimistic; ``bootstrap=N`` adds a
seeded user-level bootstrap (users resampled with replacement within each variant): a
percentile interval for the absolute lift and a p-value from the bootstrap standard error.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from statistics import NormalDist
from typing import Any, Literal

import numpy as np

from ranker.clicks import LoggedEvent

__all__ = [
    "METRICS",
    "ABReport",
    "BootstrapResult",
    "Interval",
    "Lift",
    "Metric",
    "VariantSummary",
    "ab_report",
    "assign_variant",
    "assigner",
    "wilson_interval",
]

Metric = Literal["ctr", "conversion"]
METRICS: tuple[Metric, ...] = ("ctr", "conversion")


def _buckets(variants: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    """Validated variants in name order with their cumulative weights."""
    if not variants:
        raise ValueError("an experiment needs at least one variant")
    total = 0.0
    out: list[tuple[str, float]] = []
    for name in sorted(variants):
        weight = variants[name]
        if not name:
            raise ValueError("variant names must be non-empty")
        if not (math.isfinite(weight) and weight >= 0):
            raise ValueError(f"weight of variant {name!r} must be finite and >= 0, got {weight}")
        total += weight
        out.append((name, total))
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"variant weights must sum to 1, got {total:g} for {dict(variants)}")
    return tuple(out)


def assigner(*, experiment: str, variants: Mapping[str, float]) -> Callable[[str], str]:
    """A user-id -> variant function for one experiment (weights validated once)."""
    if not experiment:
        raise ValueError("experiment must be a non-empty name")
    buckets = _buckets(variants)
    live = [name for name, _ in buckets if variants[name] > 0]

    def assign(user_id: str) -> str:
        digest = hashlib.sha256(f"{experiment}\x1f{user_id}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2.0**64
        for name, upper in buckets:
            if u < upper and variants[name] > 0:
                return name
        return live[-1]  # u within rounding of 1

    return assign


def assign_variant(user_id: str, *, experiment: str, variants: Mapping[str, float]) -> str:
    """The variant of ``user_id`` in ``experiment``: deterministic, weighted by
    ``variants`` (name -> weight, weights >= 0 summing to 1)."""
    return assigner(experiment=experiment, variants=variants)(user_id)


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with its confidence interval."""

    value: float
    low: float
    high: float


def wilson_interval(successes: int, trials: int, *, confidence: float = 0.95) -> Interval:
    """Wilson score interval of a proportion; ``[0, 1]`` around 0 when there are no trials."""
    if not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if trials == 0:
        return Interval(0.0, 0.0, 1.0)
    z = _z(confidence)
    p = successes / trials
    scale = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / scale
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / scale
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return Interval(p, low, high)


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass(frozen=True, slots=True)
class VariantSummary:
    """What one variant logged, with CTR and session conversion."""

    variant: str
    users: int
    sessions: int
    impressions: int
    clicks: int
    add_to_carts: int
    purchases: int
    converted_sessions: int
    ctr: Interval
    conversion: Interval

    def counts(self, metric: Metric) -> tuple[int, int]:
        """(successes, trials) of ``metric``."""
        if metric == "ctr":
            return self.clicks, self.impressions
        return self.converted_sessions, self.sessions


@dataclass(frozen=True, slots=True)
class BootstrapResult:
    """User-level bootstrap of an absolute lift: percentile interval and p-value."""

    absolute: Interval
    p_value: float
    resamples: int
    significant: bool


@dataclass(frozen=True, slots=True)
class Lift:
    """One metric of one treatment against the control."""

    metric: Metric
    treatment: str
    control: str
    absolute: Interval
    relative: Interval | None  # None when either rate has no successes
    z: float
    p_value: float
    significant: bool
    bootstrap: BootstrapResult | None = None


@dataclass(frozen=True, slots=True)
class ABReport:
    control: str
    confidence: float
    variants: tuple[VariantSummary, ...]
    lifts: tuple[Lift, ...]
    warnings: tuple[str, ...] = field(default=())

    def variant(self, name: str) -> VariantSummary:
        for summary in self.variants:
            if summary.variant == name:
                return summary
        raise KeyError(f"no variant {name!r}; variants: {[v.variant for v in self.variants]}")

    def lift(self, treatment: str, metric: Metric) -> Lift:
        for lift in self.lifts:
            if lift.treatment == treatment and lift.metric == metric:
                return lift
        raise KeyError(f"no {metric} lift for treatment {treatment!r}")

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``None`` where a relative lift or bootstrap is absent)."""
        data = asdict(self)
        return {
            key: list(value) if isinstance(value, tuple) else value for key, value in data.items()
        }

    def to_markdown(self) -> str:
        """Two tables (variants, lifts) and any warnings, for docs and reports."""
        level = f"{self.confidence:.0%}"
        lines = [
            f"| variant | users | sessions | impressions | clicks | CTR ({level} CI) "
            f"| purchases | conversion ({level} CI) |",
            "|---|---:|---:|---:|---:|---|---:|---|",
        ]
        for v in self.variants:
            name = f"{v.variant} (control)" if v.variant == self.control else v.variant
            lines.append(
                f"| {name} | {v.users} | {v.sessions} | {v.impressions} | {v.clicks} "
                f"| {_pct(v.ctr)} | {v.purchases} | {_pct(v.conversion)} |"
            )
        boot = any(lift.bootstrap for lift in self.lifts)
        if self.lifts:
            extra = " bootstrap lift | bootstrap p |" if boot else ""
            lines += [
                "",
                f"| metric | treatment | absolute lift | relative lift | p-value |{extra}",
                "|---|---|---|---|---:|" + ("---|---:|" if boot else ""),
            ]
        for lift in self.lifts:
            row = (
                f"| {lift.metric} | {lift.treatment} vs {lift.control} | {_pp(lift.absolute)} "
                f"| {_pct(lift.relative, signed=True) if lift.relative else 'n/a'} "
                f"| {lift.p_value:.3g}{' *' if lift.significant else ''} |"
            )
            if boot and lift.bootstrap:
                b = lift.bootstrap
                row += f" {_pp(b.absolute)} | {b.p_value:.3g}{' *' if b.significant else ''} |"
            lines.append(row)
        lines += [f"\n> warning: {w}" for w in self.warnings]
        return "\n".join(lines) + "\n"


def _pct(iv: Interval, *, signed: bool = False) -> str:
    sign = "+" if signed else ""
    return f"{iv.value:{sign}.2%} [{iv.low:{sign}.2%}, {iv.high:{sign}.2%}]"


def _pp(iv: Interval) -> str:
    return f"{iv.value * 100:+.2f} pp [{iv.low * 100:+.2f}, {iv.high * 100:+.2f}]"


@dataclass(slots=True)
class _User:
    impressions: int = 0
    clicks: int = 0
    add_to_carts: int = 0
    purchases: int = 0
    sessions: set[str] = field(default_factory=set)
    converted: set[str] = field(default_factory=set)


def _by_user(events: Iterable[LoggedEvent]) -> tuple[dict[str, dict[str, _User]], list[str]]:
    """Per variant, per user totals; and warnings about users or sessions in two variants."""
    totals: dict[str, dict[str, _User]] = {}
    session_variant: dict[str, str] = {}
    user_variants: dict[str, set[str]] = {}
    split_sessions = 0
    for event in events:
        user = totals.setdefault(event.variant, {}).setdefault(event.user_id, _User())
        user_variants.setdefault(event.user_id, set()).add(event.variant)
        if session_variant.setdefault(event.session_id, event.variant) != event.variant:
            split_sessions += 1
        user.sessions.add(event.session_id)
        if event.type == "impression":
            user.impressions += 1
        elif event.type == "click":
            user.clicks += 1
        elif event.type == "add_to_cart":
            user.add_to_carts += 1
        elif event.type == "purchase":
            user.purchases += 1
            user.converted.add(event.session_id)
    warnings = []
    mixed = sum(1 for v in user_variants.values() if len(v) > 1)
    if mixed:
        warnings.append(f"{mixed} user(s) appear in more than one variant; check the bucketing")
    if split_sessions:
        warnings.append(f"{split_sessions} event(s) name a session of another variant")
    return totals, warnings


def _summary(variant: str, users: Mapping[str, _User], confidence: float) -> VariantSummary:
    impressions = sum(u.impressions for u in users.values())
    clicks = sum(u.clicks for u in users.values())
    sessions = sum(len(u.sessions) for u in users.values())
    converted = sum(len(u.converted) for u in users.values())
    return VariantSummary(
        variant=variant,
        users=len(users),
        sessions=sessions,
        impressions=impressions,
        clicks=clicks,
        add_to_carts=sum(u.add_to_carts for u in users.values()),
        purchases=sum(u.purchases for u in users.values()),
        converted_sessions=converted,
        ctr=wilson_interval(min(clicks, impressions), impressions, confidence=confidence),
        conversion=wilson_interval(converted, sessions, confidence=confidence),
    )


def _lift(metric: Metric, treat: VariantSummary, ctrl: VariantSummary, confidence: float) -> Lift:
    z_crit = _z(confidence)
    xt, nt = treat.counts(metric)
    xc, nc = ctrl.counts(metric)
    pt = xt / nt if nt else 0.0
    pc = xc / nc if nc else 0.0
    diff = pt - pc
    se = math.sqrt(pt * (1 - pt) / nt + pc * (1 - pc) / nc) if nt and nc else 0.0
    absolute = Interval(diff, diff - z_crit * se, diff + z_crit * se)
    relative = None
    if xt and xc:
        ratio = pt / pc
        se_log = math.sqrt((1 - pt) / xt + (1 - pc) / xc)
        relative = Interval(
            ratio - 1, ratio * math.exp(-z_crit * se_log) - 1, ratio * math.exp(z_crit * se_log) - 1
        )
    pooled = (xt + xc) / (nt + nc) if nt + nc else 0.0
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / nt + 1 / nc)) if nt and nc else 0.0
    z = diff / se0 if se0 > 0 else 0.0
    p_value = math.erfc(abs(z) / math.sqrt(2))
    return Lift(
        metric=metric,
        treatment=treat.variant,
        control=ctrl.variant,
        absolute=absolute,
        relative=relative,
        z=z,
        p_value=p_value,
        significant=p_value < 1 - confidence,
    )


def _user_arrays(users: Mapping[str, _User]) -> dict[Metric, tuple[np.ndarray, np.ndarray]]:
    ordered = [users[u] for u in sorted(users)]
    return {
        "ctr": (
            np.array([u.clicks for u in ordered], dtype=np.float64),
            np.array([u.impressions for u in ordered], dtype=np.float64),
        ),
        "conversion": (
            np.array([len(u.converted) for u in ordered], dtype=np.float64),
            np.array([len(u.sessions) for u in ordered], dtype=np.float64),
        ),
    }


def _resampled_rates(
    arrays: Mapping[Metric, tuple[np.ndarray, np.ndarray]], rng: np.random.Generator, n: int
) -> dict[Metric, np.ndarray]:
    users = len(arrays["ctr"][0])
    idx = rng.integers(0, users, size=(n, users))
    out: dict[Metric, np.ndarray] = {}
    for metric, (num, den) in arrays.items():
        nums, dens = num[idx].sum(axis=1), den[idx].sum(axis=1)
        out[metric] = np.divide(nums, dens, out=np.zeros_like(nums), where=dens > 0)
    return out


def _bootstrap(lift: Lift, diffs: np.ndarray, confidence: float, resamples: int) -> BootstrapResult:
    alpha = 1 - confidence
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    sd = float(diffs.std(ddof=1))
    value = lift.absolute.value
    p_value = math.erfc(abs(value / sd) / math.sqrt(2)) if sd > 0 else float(value == 0)
    return BootstrapResult(
        Interval(value, float(low), float(high)), p_value, resamples, p_value < alpha
    )


def ab_report(
    events: Iterable[LoggedEvent],
    *,
    control: str,
    confidence: float = 0.95,
    bootstrap: int = 0,
    seed: int = 0,
) -> ABReport:
    """Summarise every variant in ``events`` and compare each other variant with
    ``control`` on CTR and session conversion (see the module docstring).

    ``bootstrap`` > 0 adds a user-level bootstrap with that many resamples, drawn from
    ``numpy.random.default_rng(seed)``. Raises ``ValueError`` for no events, a control
    that is not in the logs, or bad ``confidence``/``bootstrap``.
    """
    _z(confidence)
    if bootstrap < 0 or bootstrap == 1:
        raise ValueError(f"bootstrap must be 0 (off) or >= 2 resamples, got {bootstrap}")
    totals, warnings = _by_user(events)
    if not totals:
        raise ValueError("no events to report on")
    if control not in totals:
        raise ValueError(f"control variant {control!r} is not in the logs; found {sorted(totals)}")
    names = [control, *sorted(v for v in totals if v != control)]
    summaries = {name: _summary(name, totals[name], confidence) for name in names}
    for s in summaries.values():
        if s.impressions == 0:
            warnings.append(f"variant {s.variant!r} logged no impressions")
    rates: dict[str, dict[Metric, np.ndarray]] = {}
    if bootstrap:
        rng = np.random.default_rng(seed)
        rates = {n: _resampled_rates(_user_arrays(totals[n]), rng, bootstrap) for n in names}
    lifts = []
    for name in names[1:]:
        for metric in METRICS:
            lift = _lift(metric, summaries[name], summaries[control], confidence)
            if bootstrap:
                diffs = rates[name][metric] - rates[control][metric]
                lift = replace(lift, bootstrap=_bootstrap(lift, diffs, confidence, bootstrap))
            lifts.append(lift)
    return ABReport(
        control, confidence, tuple(summaries[n] for n in names), tuple(lifts), tuple(warnings)
    )
