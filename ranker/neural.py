"""A small neural ranker (torch MLP over the registered features, ListNet loss).

Attribution: integrated gradients (Sundararajan et al. 2017) from a baseline of the
training-mean features, with a 32-step midpoint rule. Integrated gradients sum to
``score - score(baseline)`` up to the integral's discretisation; ``bias`` holds
``score(baseline)`` plus that small residual, so the parts sum exactly to the score.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kg.reproducible import reproducible
from ranker.candidates import Array, CandidateSet, Rows
from ranker.features import FeatureSchema, feature_matrix
from ranker.learned import Run, read_meta, training_data, write_meta
from ranker.metrics import ndcg_at_k

__all__ = ["NeuralRanker", "train_neural"]


def _mlp(n_features: int, hidden: int) -> Any:
    import torch

    # float64: the network is tiny, and double precision keeps the few-ulp differences
    # between CPUs' kernels from growing into different early-stopping decisions.
    return torch.nn.Sequential(
        torch.nn.Linear(n_features, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, 1),
    ).double()


class NeuralRanker:
    name: ClassVar[str] = "neural"

    def __init__(
        self, *, model: Any, schema: FeatureSchema, mean: Array, std: Array, meta: dict[str, Any]
    ) -> None:
        self.model, self.schema, self.meta = model.eval(), schema, meta
        self.mean, self.std = mean.astype(np.float64), std.astype(np.float64)
        self._path: Path | None = None

    def _forward(self, x: Any) -> Any:
        return self.model(x).squeeze(-1)

    def _standardise(self, candidates: CandidateSet) -> Any:
        import torch

        x = (feature_matrix(candidates, self.schema) - self.mean) / self.std
        return torch.from_numpy(x)

    def score(self, candidates: CandidateSet) -> Array:
        import torch

        if not len(candidates):
            return np.zeros(0)
        with torch.inference_mode():
            return np.asarray(self._forward(self._standardise(candidates)).double().numpy())

    def explain(self, candidates: CandidateSet, rows: Rows, steps: int = 32) -> dict[str, Array]:
        import torch

        if not len(rows):
            return {}
        x = self._standardise(candidates)[torch.from_numpy(np.asarray(rows))]
        baseline = torch.zeros_like(x)  # standardised training mean
        alphas = (torch.arange(steps, dtype=torch.float64) + 0.5) / steps
        path = baseline.unsqueeze(0) + alphas.view(-1, 1, 1) * (x - baseline).unsqueeze(0)
        path.requires_grad_(True)
        out = self._forward(path.reshape(-1, x.shape[1])).sum()
        (grads,) = torch.autograd.grad(out, path)
        attributions = ((x - baseline) * grads.mean(dim=0)).detach().double().numpy()
        with torch.inference_mode():
            full = self._forward(x).double().numpy()
            base = self._forward(baseline).double().numpy()
        parts = {name: attributions[:, i] for i, name in enumerate(self.schema.names)}
        parts["bias"] = base + (full - base - attributions.sum(axis=1))
        return parts

    def params(self) -> dict[str, Any]:
        return {"kind": self.name, "path": str(self._path) if self._path else None}

    def save(self, directory: Path) -> None:
        import torch

        write_meta(directory, {**self.meta, "mean": self.mean.tolist(), "std": self.std.tolist()})
        torch.save(self.model.state_dict(), directory / "model.pt")
        self._path = directory

    @classmethod
    def load(cls, directory: Path) -> NeuralRanker:
        import torch

        meta, schema = read_meta(directory, cls.name)
        model = _mlp(len(schema.names), int(meta["hidden"]))
        model.load_state_dict(torch.load(directory / "model.pt", weights_only=True))
        ranker = cls(
            model=model,
            schema=schema,
            mean=np.array(meta["mean"], dtype=np.float64),
            std=np.array(meta["std"], dtype=np.float64),
            meta=meta,
        )
        ranker._path = directory
        return ranker


def _valid_ndcg(ranker: NeuralRanker, valid: Sequence[Run]) -> float:
    values = []
    for candidates, grades in valid:
        order = np.argsort(-ranker.score(candidates), kind="stable")
        v = ndcg_at_k([candidates.product_ids[i] for i in order], grades, 10)
        if v is not None:
            values.append(v)
    return float(np.mean(values)) if values else 0.0


def train_neural(
    train: Sequence[Run],
    valid: Sequence[Run],
    *,
    schema: FeatureSchema,
    seed: int = 13,
    hidden: int = 32,
    epochs: int = 60,
    patience: int = 10,
    lr: float = 3e-3,
) -> NeuralRanker:
    """ListNet (softmax cross-entropy between score and label distributions per query),
    Adam, early stopping on ``valid`` NDCG@10.

    Deterministic for a given ``seed`` on any machine: float64, one torch thread (the
    network is tiny, a second thread only changes the order of the sums) and torch's
    deterministic algorithms, set for this call and restored after."""
    with reproducible(seed=seed, threads=1):
        return _train(
            train,
            valid,
            schema=schema,
            seed=seed,
            hidden=hidden,
            epochs=epochs,
            patience=patience,
            lr=lr,
        )


def _train(
    train: Sequence[Run],
    valid: Sequence[Run],
    *,
    schema: FeatureSchema,
    seed: int,
    hidden: int,
    epochs: int,
    patience: int,
    lr: float,
) -> NeuralRanker:
    import torch

    data = training_data(train, schema)
    features = data.features.astype(np.float64)
    mean = features.mean(axis=0)
    std = features.std(axis=0)
    std[std < 1e-6] = 1.0
    x = torch.from_numpy((features - mean) / std)
    y = torch.from_numpy(data.labels.astype(np.float64))
    bounds = np.cumsum((0, *data.groups))
    model = _mlp(x.shape[1], hidden)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    rng = np.random.default_rng(seed)
    meta = {
        "kind": NeuralRanker.name,
        "features": list(schema.names),
        "schema_digest": schema.digest,
        "hidden": hidden,
        "seed": seed,
        "loss": "listnet",
        "attribution": "integrated gradients, 32 steps, baseline = training mean",
    }
    best: tuple[float, dict[str, Any], int] = (-1.0, {}, 0)
    for epoch in range(epochs):
        model.train()
        for q in rng.permutation(len(data.groups)):
            lo, hi = bounds[q], bounds[q + 1]
            scores = model(x[lo:hi]).squeeze(-1)
            target = torch.softmax(y[lo:hi], dim=0)
            loss = -(target * torch.log_softmax(scores, dim=0)).sum()
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
        ranker = NeuralRanker(model=model, schema=schema, mean=mean, std=std, meta=meta)
        ndcg = _valid_ndcg(ranker, valid)
        if ndcg > best[0]:
            best = (ndcg, {k: v.clone() for k, v in model.state_dict().items()}, epoch)
        elif epoch - best[2] >= patience:
            break
    model.load_state_dict(best[1])
    meta = {**meta, "valid_ndcg@10": round(best[0], 4), "best_epoch": best[2]}
    return NeuralRanker(
        model=model, schema=schema, mean=mean, std=std, meta=json.loads(json.dumps(meta))
    )
