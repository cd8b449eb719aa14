"""Every ranker by registry name: the fixed fusions and the learned models.

Learned rankers are files: their manifest entry names the model ``kind`` and a ``path``
(relative to the index version that holds it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ranker.fusion import FIXED_RANKERS, Ranker

__all__ = ["LEARNED_RANKERS", "RANKERS", "make_ranker"]


# The learned rankers' modules are imported when a model is loaded, not here: LightGBM
# (which imports scikit-learn, SciPy and pandas) alone takes seconds to import.
def _load_lambdamart(path: Path) -> Ranker:
    from ranker.lambdamart import LambdaMARTRanker

    return LambdaMARTRanker.load(path)


def _load_neural(path: Path) -> Ranker:
    from ranker.neural import NeuralRanker

    return NeuralRanker.load(path)


LEARNED_RANKERS: Mapping[str, Callable[[Path], Ranker]] = {
    "lambdamart": _load_lambdamart,
    "neural": _load_neural,
}
RANKERS = (*FIXED_RANKERS, *LEARNED_RANKERS)


def make_ranker(
    name: str, params: Mapping[str, Any] | None = None, *, base: Path | None = None
) -> Ranker:
    """Build ranker ``name`` from its saved ``params`` (a learned model's ``path`` is
    resolved against ``base``, the index version directory)."""
    params = dict(params or {})
    kind = params.pop("kind", name)
    if kind in LEARNED_RANKERS:
        if not params.get("path"):
            raise ValueError(
                f"ranker {name!r} has not been trained for this index; run `kgsearch reindex` "
                "with judgments (or `kgsearch train-ranker`)"
            )
        path = Path(params["path"])
        return LEARNED_RANKERS[kind](path if path.is_absolute() or base is None else base / path)
    if kind in FIXED_RANKERS:
        return FIXED_RANKERS[kind](**params)
    raise ValueError(f"unknown ranker {name!r}; registered: {sorted(RANKERS)}")
