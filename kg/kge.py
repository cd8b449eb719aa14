"""Knowledge-graph embeddings as a query-time artefact: ids, matrices and NumPy scoring.

Training lives in :mod:`kg.kge_training` (PyKEEN, torch); this module needs NumPy only,
so the search side can load and score embeddings without importing torch.

Layout on disk (one directory, replaced atomically by :meth:`KGEmbeddings.save`)::

    meta.json       id maps, model, config, metrics, graph revision, stale ids, checksums
    entities.npy    float32, one row per entity id
    relations.npy   float32, one row per relation id

How rows are laid out and scored is the model's business (:mod:`kg.kge_models`, looked up
by the artefact's ``model`` name): ComplEx vectors are complex; they are stored as real
``float32`` rows of width ``2d`` with the real parts first and the imaginary parts after
(``[re_1..re_d, im_1..im_d]``). TransE rows are the ``d`` real coordinates PyKEEN trained
(unit length: PyKEEN's TransE keeps entity vectors normalised). A model trained with inverse
triples also has a relation ``R_inverse`` for every relation ``R``:
``score([t], "R_inverse", [h])`` is how it ranks candidate heads ``h`` of ``(?, R, t)``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeAlias

import numpy as np

from kg.kge_incremental import embed_entity
from kg.kge_models import KGE_MODELS, KGEScorer, kge_model
from kg.kge_models.base import FloatArray

__all__ = [
    "FORMAT_VERSION",
    "MISSING_LIMIT",
    "KGEArtefactError",
    "KGEModelName",
    "KGEmbeddings",
    "UnknownEmbedding",
]

#: A registered model's canonical name (see :data:`kg.kge_models.KGE_MODELS`).
KGEModelName: TypeAlias = str
#: The registered models' canonical names, in registry order.
MODEL_NAMES: tuple[str, ...] = tuple(KGE_MODELS)

#: Bumped when the on-disk layout changes; older artefacts are refused, not guessed at.
FORMAT_VERSION = 1
#: Largest share of the graph's entities an artefact may lack and still be used.
MISSING_LIMIT = 0.05
RETRAIN_HINT = "run `kgsearch train-kge` to train embeddings for the current graph"
_FILES = ("entities.npy", "relations.npy")


class KGEArtefactError(ValueError):
    """An embedding artefact is missing, corrupt, or does not fit the graph it is used with."""

    code = "kge_artefact"


class UnknownEmbedding(KeyError):
    """An entity or relation id the artefact has no vector for."""

    code = "kge_unknown_id"

    def __init__(self, kind: str, identifier: str) -> None:
        super().__init__(
            f"{kind} {identifier!r} has no embedding (check KGEmbeddings.has(); new "
            f"products get one through with_entity() or the next `kgsearch train-kge`)"
        )

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True, eq=False)
class KGEmbeddings:
    """Trained entity and relation vectors with their id maps, config and metrics."""

    model: KGEModelName
    entity_ids: tuple[str, ...]
    relation_ids: tuple[str, ...]
    entities: FloatArray
    relations: FloatArray
    config: Mapping[str, Any]
    metrics: Mapping[str, float]
    graph_revision: int | None
    stale: frozenset[str] = frozenset()
    _entity_index: Mapping[str, int] = field(init=False, repr=False)
    _relation_index: Mapping[str, int] = field(init=False, repr=False)
    _scorer: KGEScorer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            scorer = kge_model(self.model).from_config(self.config)
        except ValueError as exc:
            raise KGEArtefactError(str(exc)) from None
        for name in ("entities", "relations"):
            array = getattr(self, name)
            if not isinstance(array, np.ndarray) or array.dtype != np.float32 or array.ndim != 2:
                raise KGEArtefactError(f"{name} must be a 2-d float32 array")
            if not np.isfinite(array).all():
                raise KGEArtefactError(f"{name} contains NaN or infinite values")
        entity_index = _index(self.entity_ids, "entity")
        relation_index = _index(self.relation_ids, "relation")
        if self.entities.shape[0] != len(self.entity_ids):
            raise KGEArtefactError(
                f"{self.entities.shape[0]} entity rows but {len(self.entity_ids)} entity ids"
            )
        if self.relations.shape[0] != len(self.relation_ids):
            raise KGEArtefactError(
                f"{self.relations.shape[0]} relation rows but {len(self.relation_ids)} relation ids"
            )
        if self.entities.shape[1] != self.relations.shape[1]:
            raise KGEArtefactError(
                f"entity width {self.entities.shape[1]} differs from relation width "
                f"{self.relations.shape[1]}"
            )
        try:
            scorer.validate(entities=self.entities, relations=self.relations)
        except ValueError as exc:
            raise KGEArtefactError(str(exc)) from None
        unknown_stale = self.stale - entity_index.keys()
        if unknown_stale:
            raise KGEArtefactError(f"stale ids without a row: {sorted(unknown_stale)[:5]}")
        object.__setattr__(self, "model", scorer.name)
        object.__setattr__(self, "_scorer", scorer)
        object.__setattr__(self, "config", MappingProxyType(dict(self.config)))
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))
        object.__setattr__(self, "_entity_index", MappingProxyType(entity_index))
        object.__setattr__(self, "_relation_index", MappingProxyType(relation_index))

    # ---- query time ---------------------------------------------------------------------

    @property
    def dim(self) -> int:
        """The model's embedding dimension (complex dimension for ComplEx)."""
        return self._scorer.dim(int(self.entities.shape[1]))

    def has(self, entity_id: str) -> bool:
        return entity_id in self._entity_index

    def entity_vector(self, entity_id: str) -> FloatArray:
        """The stored (real-view) row of one entity."""
        return np.asarray(self.entities[self._entity_row(entity_id)], dtype=np.float32)

    def score(self, heads: Sequence[str], relation: str, tails: Sequence[str]) -> np.ndarray:
        """Plausibility of ``(head, relation, tail)`` for each pair (higher = more plausible).

        Equal to PyKEEN's ``score_hrt`` (``predict_hrt`` without sigmoid, for a model
        trained with inverse triples): TransE ``-‖h + r - t‖_p``, ComplEx
        ``Re(⟨h, r, conj(t)⟩)``. ``heads`` and ``tails`` have the same length, or one of them
        has length 1 and is broadcast. Unknown ids raise :class:`UnknownEmbedding`."""
        if len(heads) != len(tails) and 1 not in (len(heads), len(tails)):
            raise ValueError(
                f"heads ({len(heads)}) and tails ({len(tails)}) must have the same length, "
                "or one of them length 1"
            )
        h = self.entities[[self._entity_row(e) for e in heads]].astype(np.float64)
        t = self.entities[[self._entity_row(e) for e in tails]].astype(np.float64)
        r = self.relations[self._relation_row(relation)].astype(np.float64)
        return self._scorer.score(h, r, t)

    def similarity(self, entities: Sequence[str], other: str) -> np.ndarray:
        """Cosine between each of ``entities`` and ``other`` (ComplEx: over the real view)."""
        view = self._scorer.similarity_view
        rows = view(self.entities[[self._entity_row(e) for e in entities]].astype(np.float64))
        target = view(self.entities[self._entity_row(other)].astype(np.float64))
        norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(target)
        return np.asarray(rows @ target / np.maximum(norms, 1e-12))

    def _entity_row(self, entity_id: str) -> int:
        try:
            return self._entity_index[entity_id]
        except KeyError:
            raise UnknownEmbedding("entity", entity_id) from None

    def _relation_row(self, relation: str) -> int:
        try:
            return self._relation_index[relation]
        except KeyError:
            raise UnknownEmbedding("relation", relation) from None

    # ---- incremental ----------------------------------------------------------------------

    def with_entity(
        self,
        entity_id: str,
        neighbours: Sequence[tuple[str, str]],
        *,
        steps: int = 20,
        graph_revision: int | None = None,
    ) -> KGEmbeddings:
        """A new artefact with ``entity_id`` embedded from its ``(relation, tail)`` triples.

        The vector starts from the neighbours seen through the trained relations and takes
        ``steps`` local gradient steps with everything else frozen (see
        :mod:`kg.kge_incremental`). An existing row is replaced, a new one appended; the id
        joins ``stale`` until the next full training. ``graph_revision``, when given, becomes
        the artefact's revision (the graph change this update follows). Tails the artefact
        does not know are skipped; an unknown relation, or no known tail at all, raises
        :class:`KGEArtefactError`."""
        if steps < 0:
            raise ValueError(f"steps must be >= 0, got {steps}")
        unknown = sorted({rel for rel, _ in neighbours} - self._relation_index.keys())
        if unknown:
            raise KGEArtefactError(
                f"cannot embed {entity_id!r}: relation(s) {unknown} were not trained "
                f"(known: {sorted(self.relation_ids)}); {RETRAIN_HINT}"
            )
        known = [
            (self._relation_index[rel], self._entity_index[tail])
            for rel, tail in neighbours
            if tail in self._entity_index and tail != entity_id
        ]
        if not known:
            raise KGEArtefactError(
                f"cannot embed {entity_id!r}: none of its {len(neighbours)} neighbour(s) has "
                f"an embedding; {RETRAIN_HINT}"
            )
        own_row = self._entity_index.get(entity_id)
        vector = embed_entity(
            model=self._scorer,
            entities=self.entities,
            relations=self.relations,
            pairs=known,
            exclude_row=own_row,
            steps=steps,
            seed=entity_id,
        )
        if own_row is None:
            entities = np.vstack([self.entities, vector[None, :]])
            entity_ids = (*self.entity_ids, entity_id)
        else:
            entities = self.entities.copy()
            entities[own_row] = vector
            entity_ids = self.entity_ids
        return dataclasses.replace(
            self,
            entity_ids=entity_ids,
            entities=entities,
            stale=self.stale | {entity_id},
            graph_revision=self.graph_revision if graph_revision is None else graph_revision,
        )

    # ---- persistence ------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        """Write the artefact to ``directory`` atomically: a sibling temp directory is
        written and fsynced, then renamed into place (the old one removed after)."""
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.tmp-", dir=directory.parent))
        try:
            files: dict[str, dict[str, Any]] = {}
            for name, array in zip(_FILES, (self.entities, self.relations), strict=True):
                path = tmp / name
                with path.open("wb") as fh:
                    np.save(fh, np.ascontiguousarray(array), allow_pickle=False)
                    fh.flush()
                    os.fsync(fh.fileno())
                files[name] = {"sha256": _sha256(path), "shape": list(array.shape)}
            meta = {
                "format_version": FORMAT_VERSION,
                "model": self.model,
                "entity_ids": list(self.entity_ids),
                "relation_ids": list(self.relation_ids),
                "config": dict(self.config),
                "metrics": dict(self.metrics),
                "graph_revision": self.graph_revision,
                "stale": sorted(self.stale),
                "files": files,
            }
            with (tmp / "meta.json").open("w", encoding="utf-8") as fh:
                json.dump(meta, fh, indent=1, allow_nan=False)
                fh.flush()
                os.fsync(fh.fileno())
            _replace_directory(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def load(
        cls,
        directory: Path,
        *,
        expected_revision: int | None = None,
        known_entities: Collection[str] | None = None,
    ) -> KGEmbeddings:
        """Read an artefact and check it fits: files present and intact, shapes that match
        the id maps, finite values, the graph revision (when ``expected_revision`` is given)
        and coverage of ``known_entities`` (refused when more than 5% lack a vector; below
        that the artefact is usable and :meth:`has` tells which are missing)."""
        directory = Path(directory)
        meta = _read_meta(directory)
        arrays: list[np.ndarray] = []
        for name in _FILES:
            arrays.append(_read_array(directory, name, meta))
        try:
            artefact = cls(
                model=meta["model"],
                entity_ids=tuple(meta["entity_ids"]),
                relation_ids=tuple(meta["relation_ids"]),
                entities=arrays[0],
                relations=arrays[1],
                config=dict(meta["config"]),
                metrics={str(k): float(v) for k, v in dict(meta["metrics"]).items()},
                graph_revision=meta["graph_revision"],
                stale=frozenset(meta["stale"]),
            )
        except (KGEArtefactError, KeyError, TypeError, ValueError) as exc:
            raise _refuse(directory, f"its contents are inconsistent ({exc})") from exc
        if expected_revision is not None and artefact.graph_revision != expected_revision:
            raise _refuse(
                directory,
                f"it was trained on graph revision {artefact.graph_revision}, "
                f"the graph is at revision {expected_revision}",
            )
        if known_entities is not None and len(known_entities) > 0:
            missing = sum(1 for e in known_entities if e not in artefact._entity_index)
            share = missing / len(known_entities)
            if share > MISSING_LIMIT:
                raise _refuse(
                    directory,
                    f"{missing} of {len(known_entities)} graph entities ({share:.1%}) have no "
                    f"embedding (at most {MISSING_LIMIT:.0%} may be missing)",
                )
        return artefact


def _index(ids: Sequence[str], kind: str) -> dict[str, int]:
    index = {identifier: row for row, identifier in enumerate(ids)}
    if len(index) != len(ids):
        raise KGEArtefactError(f"duplicate {kind} ids")
    return index


def _refuse(directory: Path, why: str) -> KGEArtefactError:
    return KGEArtefactError(f"embeddings at {directory} cannot be used: {why}; {RETRAIN_HINT}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_meta(directory: Path) -> dict[str, Any]:
    path = directory / "meta.json"
    if not path.is_file():
        raise _refuse(directory, "meta.json is missing (no embeddings were saved there)")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _refuse(directory, f"meta.json is corrupt ({exc})") from exc
    if not isinstance(meta, dict):
        raise _refuse(directory, "meta.json is corrupt (not an object)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise _refuse(
            directory,
            f"format version {meta.get('format_version')!r} is not {FORMAT_VERSION}",
        )
    required = ("model", "entity_ids", "relation_ids", "config", "metrics", "graph_revision")
    absent = [key for key in (*required, "stale", "files") if key not in meta]
    if absent:
        raise _refuse(directory, f"meta.json lacks {absent}")
    return meta


def _read_array(directory: Path, name: str, meta: Mapping[str, Any]) -> np.ndarray:
    path = directory / name
    if not path.is_file():
        raise _refuse(directory, f"{name} is missing")
    expected = meta["files"].get(name, {}) if isinstance(meta["files"], dict) else {}
    if _sha256(path) != expected.get("sha256"):
        raise _refuse(directory, f"{name} is corrupt (checksum differs from meta.json)")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _refuse(directory, f"{name} is corrupt ({exc})") from exc
    return np.asarray(array)


def _replace_directory(source: Path, target: Path) -> None:
    """Rename ``source`` to ``target``; an existing ``target`` is moved aside first and put
    back if the rename fails (rename(2) cannot replace a non-empty directory)."""
    aside: Path | None = None
    if target.exists():
        aside = target.with_name(f".{target.name}.old-{uuid.uuid4().hex[:8]}")
        target.rename(aside)
    try:
        source.rename(target)
    except BaseException:
        if aside is not None:
            aside.rename(target)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
