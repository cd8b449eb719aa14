"""Offline evaluation of the recommenders on real data: three protocols, each a module.

- :mod:`~recommend.evaluation.topk`: per-user 80/20 top-K (Recall/NDCG/coverage@20),
  baselines tuned on validation, paired test of the fused model vs the best baseline;
- :mod:`~recommend.evaluation.ctr`: KGCN's CTR protocol (AUC, F1);
- :mod:`~recommend.evaluation.coldstart`: item cold start (Recall@20 over cold items).

:func:`evaluate_recs` runs all three over several seeds and averages them; the CLI's
``kgsearch evaluate-recs`` and ``benchmarks/recs_lastfm.py`` call it.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DATASETS", "REFERENCE", "evaluate_recs", "summary_table"]

DATASETS = ("lastfm-kg",)
DEFAULT_SEEDS = (0, 1, 2)

#: the issue's reference points (means over three seeds on this machine kind) and goals
REFERENCE: dict[str, Any] = {
    "topk": {
        "popularity": {"recall@20": 0.200},
        "itemknn": {"recall@20": 0.331},
        "bpr": {"recall@20": 0.255},
        "als": {"recall@20": 0.373, "ndcg@20": 0.235},
    },
    "ctr": {
        "popularity": {"auc": 0.797},
        "als": {"auc": 0.838},
        "KGCN (published)": {"auc": 0.796, "f1": 0.721},
    },
    "cold": {
        "kgneighbour-jaccard": {"recall@20": 0.121},
        "kgdegree": {"recall@20": 0.069},
        "random": {"recall@20": 0.050},
    },
    "goals": {
        "topk_recall@20": 0.39,
        "topk_gain": 0.05,
        "topk_p": 0.05,
        "ctr_auc": 0.85,
        "cold_recall@20": 0.14,
    },
}


def evaluate_recs(
    dataset: str = "lastfm-kg",
    *,
    data_dir: Path | None = None,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    protocols: Sequence[str] = ("topk", "ctr", "cold"),
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the protocols on ``dataset`` for every seed; per-seed results, their means, the
    goals met or missed, and the machine it ran on. ``data_dir``: the data set's folder
    (default: ``shared/`` beside the repository, then ``/work/shared``)."""
    from recommend.datasets.lastfm import find_lastfm_kg, load_lastfm_kg, shared_lastfm_dirs
    from recommend.evaluation.coldstart import run_cold
    from recommend.evaluation.ctr import run_ctr
    from recommend.evaluation.topk import run_topk

    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {', '.join(DATASETS)}")
    unknown = set(protocols) - {"topk", "ctr", "cold"}
    if unknown:
        raise ValueError(f"unknown protocols {sorted(unknown)}; known: topk, ctr, cold")
    if not seeds:
        raise ValueError("evaluate_recs needs at least one seed")
    repo = Path(__file__).resolve().parents[2]
    folder = find_lastfm_kg([data_dir] if data_dir is not None else shared_lastfm_dirs(repo))
    if folder is None:
        where = (
            data_dir if data_dir is not None else " or ".join(map(str, shared_lastfm_dirs(repo)))
        )
        raise FileNotFoundError(f"Last.FM KG data not found in {where}")
    report = progress or (lambda _message: None)
    data = load_lastfm_kg(folder)
    runners = {"topk": run_topk, "ctr": run_ctr, "cold": run_cold}
    started = time.perf_counter()
    per_seed: dict[str, list[dict[str, Any]]] = {p: [] for p in protocols}
    for seed in seeds:
        for protocol in protocols:
            per_seed[protocol].append(
                runners[protocol](data.interactions, data.graph, seed=seed, progress=report)
            )
    means = {p: _mean(runs) for p, runs in per_seed.items()}
    return {
        "dataset": dataset,
        "data": data.summary(),
        "seeds": list(seeds),
        "means": means,
        "goals": _goals(means, per_seed),
        "reference": REFERENCE,
        "per_seed": per_seed,
        "seconds": time.perf_counter() - started,
        "machine": _machine(),
    }


def _mean(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for model, first in runs[0].items():
        if not isinstance(first, dict) or model in ("split", "sparse_users"):
            continue
        metrics = [k for k, v in first.items() if isinstance(v, float) and k != "users"]
        out[model] = {m: sum(r[model][m] for r in runs) / len(runs) for m in metrics}
    if "sparse_users" in runs[0]:
        buckets = runs[0]["sparse_users"]
        out["sparse_users"] = {
            f"{bucket} {model}": sum(r["sparse_users"][bucket][model] for r in runs) / len(runs)
            for bucket in buckets
            for model in buckets[bucket]
        }
    return out


def _goals(means: dict[str, Any], per_seed: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    goals = REFERENCE["goals"]
    out: dict[str, Any] = {}
    if "topk" in means:
        fused = means["topk"]["fused"]["recall@20"]
        best = max(
            ("popularity", "itemknn", "als", "bpr"), key=lambda n: means["topk"][n]["recall@20"]
        )
        base = means["topk"][best]["recall@20"]
        p_values = [r["fused"]["vs_best_baseline"]["p_value"] for r in per_seed["topk"]]
        out["topk"] = {
            "fused_recall@20": fused,
            "goal": goals["topk_recall@20"],
            "best_baseline": best,
            "best_baseline_recall@20": base,
            "relative_gain": fused / base - 1,
            "p_values": p_values,
            "met": fused >= goals["topk_recall@20"]
            and fused / base - 1 >= goals["topk_gain"]
            and max(p_values) < goals["topk_p"],
        }
    if "ctr" in means:
        value = means["ctr"]["fused"]["auc"]
        out["ctr"] = {
            "fused_auc": value,
            "goal": goals["ctr_auc"],
            "met": value >= goals["ctr_auc"],
        }
    if "cold" in means:
        value = means["cold"]["fused"]["recall@20"]
        out["cold"] = {
            "fused_recall@20": value,
            "goal": goals["cold_recall@20"],
            "met": value >= goals["cold_recall@20"],
        }
    return out


def summary_table(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(protocol, model, metric, mean value)`` rows for printing."""
    rows = []
    for protocol, models in result["means"].items():
        for model, metrics in models.items():
            for metric, value in metrics.items():
                rows.append((protocol, model, metric, f"{value:.4f}"))
    return rows


def _machine() -> dict[str, Any]:
    import os

    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(x, 2) for x in load],
    }
