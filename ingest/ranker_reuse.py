"""Trained rankers of a new index version, reused from the live one when their inputs are
unchanged.

Training the rankers (and the personal stage) dominates a reindex that changed nothing:
minutes, against a second for the keyword index and vectors. What they learn from is
fixed by their inputs: the documents, the judged queries, what turns a query into
candidates (encoder, analyzer, recall settings, KG embeddings), the feature schemas, the
training code and the libraries that fit the models. A fingerprint of all of these is
recorded in each version's manifest; a build whose fingerprint equals the live version's
copies the live version's rankers and their evaluation instead of training again. The
personal stage has its own fingerprint: the rankers' and the behaviour log's.

The code part is a digest of the source of the packages that compute candidates and fit
models (``search``, ``ranker`` and this module's trainer), so an edit to recall or to a
feature retrains without anyone remembering to bump a number.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from collections.abc import Iterable, Mapping, Sequence
from importlib import metadata
from pathlib import Path

import ranker
import search
from ingest import rankers as ranker_training
from ranker.evaluation import JudgedQuery
from ranker.features import DEFAULT_FEATURES, NO_KG_FEATURES, schema_digest
from search.analysis import Analyzer

__all__ = [
    "PERSONAL_DIRS",
    "RANKER_DIRS",
    "changed_inputs",
    "code_digest",
    "copy_trained",
    "events_digest",
    "fingerprint_of",
    "personal_fingerprint",
    "training_fingerprint",
    "training_inputs",
]

log = logging.getLogger(__name__)

#: Bump to retrain everywhere after a change the digests below cannot see.
TRAINING_FORMAT = 1
#: What a version holds of its trained rankers and personal stage (relative paths).
RANKER_DIRS = ("rankers",)
PERSONAL_DIRS = ("personal",)
#: Libraries whose version changes what training produces.
_LIBRARIES = ("lightgbm", "torch", "numpy", "scikit-learn")


def _sha(parts: Iterable[bytes]) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "little"))
        digest.update(part)
    return digest.hexdigest()


def _file_digest(path: Path) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.digest()


def _tree_digest(root: Path, pattern: str = "*") -> str:
    """Digest of every file under ``root`` matching ``pattern``: relative path and bytes."""
    files = sorted(p for p in root.rglob(pattern) if p.is_file() and "__pycache__" not in p.parts)
    return _sha(
        part for p in files for part in (p.relative_to(root).as_posix().encode(), _file_digest(p))
    )


def code_digest() -> str:
    """Digest of the code that computes candidates and features and fits the rankers."""
    roots = [Path(search.__file__).parent, Path(ranker.__file__).parent]
    trainer = Path(ranker_training.__file__)
    return _sha([*(_tree_digest(r, "*.py").encode() for r in roots), _file_digest(trainer)])


def _library_versions() -> dict[str, str]:
    versions = {}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _analyzer_state(analyzer: Analyzer) -> dict[str, object]:
    return {
        "class": f"{type(analyzer).__module__}.{type(analyzer).__qualname__}",
        "synonyms": sorted(analyzer.synonyms.items()),
        "phrases": sorted(analyzer.phrases.items()),
        "stopwords": sorted(analyzer.stopwords),
        "stem": analyzer.stem,
    }


def _judgments(judged: Sequence[JudgedQuery]) -> list[object]:
    ordered = sorted(judged, key=lambda q: (q.query_id, q.text))
    return [[q.query_id, q.text, q.kind, q.split, sorted(q.grades.items())] for q in ordered]


def training_inputs(
    *,
    documents: Path,
    judged: Sequence[JudgedQuery],
    encoder_identity: str,
    analyzer: Analyzer,
    settings: Mapping[str, object],
    kge_dir: Path | None,
) -> dict[str, str]:
    """A short digest of each input the version's rankers and their evaluation depend on
    (saved in the manifest, so a retrain can say which input changed).

    ``documents`` is the version's ``documents.jsonl`` (every field a feature may read);
    ``settings`` the recall and training settings (field weights, recall_k, backend, ...)."""
    state: dict[str, object] = {
        "format": TRAINING_FORMAT,
        "documents": _file_digest(documents).hex(),
        "judgments": _judgments(judged),
        "encoder": encoder_identity,
        "analyzer": _analyzer_state(analyzer),
        "settings": dict(sorted(settings.items())),
        "kge": _tree_digest(kge_dir) if kge_dir is not None else None,
        "features": [schema_digest(DEFAULT_FEATURES), schema_digest(NO_KG_FEATURES)],
        "code": code_digest(),
        "libraries": _library_versions(),
    }
    return {
        name: _sha([json.dumps(value, sort_keys=True, default=str).encode()])[:16]
        for name, value in state.items()
    }


def fingerprint_of(inputs: Mapping[str, str]) -> str:
    """One hex digest of :func:`training_inputs`; "" when the encoder names no identity
    (its vectors, and so the candidates, cannot be told apart: never reused)."""
    if inputs.get("encoder") == _sha([json.dumps("").encode()])[:16]:
        return ""
    return _sha([json.dumps(dict(sorted(inputs.items()))).encode()])


def training_fingerprint(
    *,
    documents: Path,
    judged: Sequence[JudgedQuery],
    encoder_identity: str,
    analyzer: Analyzer,
    settings: Mapping[str, object],
    kge_dir: Path | None,
) -> str:
    """What the version's rankers and their evaluation depend on, as one hex digest."""
    return fingerprint_of(
        training_inputs(
            documents=documents,
            judged=judged,
            encoder_identity=encoder_identity,
            analyzer=analyzer,
            settings=settings,
            kge_dir=kge_dir,
        )
    )


def changed_inputs(before: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """The names of the inputs whose digest differs (all, when ``before`` has none)."""
    return sorted(n for n in set(before) | set(now) if before.get(n) != now.get(n))


def events_digest(events: Sequence[object]) -> str:
    """Digest of a behaviour log, event by event (its dataclass fields, in order)."""
    return _sha(repr(e).encode() for e in events)


def personal_fingerprint(training: str, default_ranker: str, events: Sequence[object]) -> str:
    """What a version's personal stage depends on: its ranker's inputs and the log."""
    if not training:
        return ""
    return _sha([training.encode(), default_ranker.encode(), events_digest(events).encode()])


def copy_trained(source: Path, target: Path, parts: Sequence[str]) -> None:
    """Copy the trained ``parts`` (directories) of version ``source`` into ``target``."""
    for part in parts:
        if (source / part).is_dir():
            shutil.copytree(source / part, target / part)
