"""Every ranker by registry name: the fixed fusions and the learned models.

Learned rankers are files: their manifest entry names the model ``kind`` and a ``path``
(relative to the index version that holds it)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ranker.fusion import FIXED_RANKERS, Ranker
from ranker.lambdamart import LambdaMARTRanker
from ranker.neural import NeuralRanker

__all__ = ["LEARNED_RANKERS", "RANKERS", "make_ranker"]

LEARNED_RANKERS: Mapping[str, Callable[[Path], Ranker]] = {
    LambdaMARTRanker.name: LambdaMARTRanker.load,
    NeuralRanker.name: NeuralRanker.load,
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
