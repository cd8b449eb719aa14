"""Index versions on disk: build beside the live one, switch a pointer atomically, roll back.

Layout under ``root``::

    versions/v0001/            one complete version: manifest.json, documents.jsonl,
    versions/v0002/            keyword/ (tantivy), vectors/ (vectors.npy, ids.json, text_hashes.npy)
    versions/.build-v0003/     a build in progress (never read by queries)
    LIVE                       {"live": "v0002", "history": ["v0001"]}, replaced atomically
    .lock                      held while a build or a switch runs
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from kg.documents import ProductDocument

__all__ = [
    "APPLIED",
    "BuildCheckError",
    "IndexVersions",
    "Manifest",
    "NoIndexError",
    "read_documents",
    "write_documents",
]


#: Written into a version directory once catalog edits were applied to it in place; holds
#: the graph revision they reached (see :mod:`ingest.sync`).
APPLIED = "applied.json"


class BuildCheckError(RuntimeError):
    """A version (being built, or opened) does not hold together; nothing live changed."""

    code = "build_check_failed"


class NoIndexError(RuntimeError):
    code = "no_index"


class Manifest(BaseModel):
    """What a version holds and how it was built; checked when the version is opened."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = 1
    version: str
    created_at: str
    graph_revision: int
    products: int
    encoder: str
    dim: int
    search_backend: str = "embedded"
    field_weights: dict[str, float]
    recall_k: int
    dense_min_score: float
    rankers: dict[str, dict[str, Any]]
    default_ranker: str
    evaluation: dict[str, dict[str, dict[str, float]]] = {}
    seconds: dict[str, float] = {}
    #: What the vectors depend on (``IdentifiedEncoder.identity``; "" when the encoder
    #: names none) and how many were encoded for this version or reused from the one
    #: live before it (None: built before these were recorded).
    encoder_identity: str = ""
    vectors_encoded: int | None = None
    vectors_reused: int | None = None
    #: What the rankers (and their evaluation) and the personal stage were trained on
    #: (:mod:`ingest.ranker_reuse`; "" when not recorded), and the version they were
    #: copied from when that was unchanged (None: trained for this version).
    training_fingerprint: str = ""
    training_inputs: dict[str, str] = {}
    personal_fingerprint: str = ""
    rankers_reused_from: str | None = None
    personal_reused_from: str | None = None

    @staticmethod
    def now() -> str:
        return datetime.now(UTC).isoformat(timespec="seconds")


def write_documents(path: Path, docs: list[ProductDocument]) -> None:
    with path.open("w", encoding="utf-8") as handle:
        for doc in docs:
            raw = asdict(doc)
            if raw["graph_ids"] is None:  # as the files before the field were: same digest
                del raw["graph_ids"]
            handle.write(json.dumps(raw, ensure_ascii=False) + "\n")


def read_documents(path: Path) -> list[ProductDocument]:
    docs = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            raw = json.loads(line)
            raw["category_path"] = tuple(raw["category_path"])
            docs.append(ProductDocument(**raw))
    return docs


def _fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` (creations, renames) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """fsync every file under ``root``, then every directory, deepest first."""
    directories = [root]
    for path in sorted(root.rglob("*")):
        if path.is_dir():
            directories.append(path)
        elif path.is_file():
            with path.open("rb") as handle:
                os.fsync(handle.fileno())
    for directory in sorted(directories, key=lambda p: len(p.parts), reverse=True):
        _fsync_dir(directory)


class IndexVersions:
    def __init__(self, *, root: Path) -> None:
        self.root = root
        self.dir = root / "versions"
        self.dir.mkdir(parents=True, exist_ok=True)
        self._pointer = root / "LIVE"

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise builds and switches between processes."""
        with (self.root / ".lock").open("w") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RuntimeError(
                    f"another reindex or switch holds {self.root / '.lock'}; wait for it to finish"
                ) from None
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _state(self) -> dict[str, Any]:
        if not self._pointer.exists():
            return {"live": None, "history": []}
        state: dict[str, Any] = json.loads(self._pointer.read_text())
        return state

    def _write_state(self, state: dict[str, Any]) -> None:
        tmp = self._pointer.with_name(f"LIVE.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(state))
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        tmp.replace(self._pointer)  # atomic on POSIX: readers see the old or the new pointer
        _fsync_dir(self.root)  # ... and the rename itself survives a power cut

    def live(self) -> str | None:
        live = self._state()["live"]
        return str(live) if live else None

    def live_path(self) -> Path:
        live = self.live()
        if live is None:
            raise NoIndexError(
                f"no live index under {self.root}: run `kgsearch demo` or "
                "`kgsearch import FILE` and then `kgsearch reindex`"
            )
        return self.dir / live

    def pointer_stamp(self) -> tuple[int, int] | None:
        """Cheap change detector for the live pointer (inode, mtime_ns)."""
        try:
            st = self._pointer.stat()
        except FileNotFoundError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def names(self) -> list[str]:
        return sorted(p.name for p in self.dir.iterdir() if p.is_dir() and p.name.startswith("v"))

    def history(self) -> list[str]:
        return list(self._state()["history"])

    def next_name(self) -> str:
        numbers = [int(p.name.rsplit("v", 1)[1]) for p in self.dir.iterdir() if "v" in p.name]
        return f"v{max(numbers, default=0) + 1:04d}"

    @contextmanager
    def staging(self, name: str) -> Iterator[Path]:
        """A directory to build ``name`` in; renamed into place only if the block succeeds.

        Call it holding :meth:`locked`: then no other build runs, and any other staging
        directory is what a killed build left behind, removed here before it fills the disk."""
        for leftover in self.dir.glob(".build-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        tmp = self.dir / f".build-{name}"
        tmp.mkdir(parents=True)
        try:
            yield tmp
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync_tree(tmp)  # every built file on disk before the version can go live
        tmp.rename(self.dir / name)
        _fsync_dir(self.dir)

    def activate(self, name: str) -> None:
        if not (self.dir / name / "manifest.json").exists():
            raise NoIndexError(f"version {name!r} does not exist under {self.dir}")
        state = self._state()
        history = [h for h in state["history"] if h != name]
        if state["live"] and state["live"] != name:
            history.append(state["live"])
        self._write_state({"live": name, "history": history})

    def rollback(self) -> str:
        """Make the previous live version live again; return its name."""
        state = self._state()
        history = [h for h in state["history"] if (self.dir / h / "manifest.json").exists()]
        if not history:
            raise NoIndexError("no earlier version to roll back to")
        previous = history.pop()
        self._write_state({"live": previous, "history": history})
        return str(previous)

    def prune(self, *, keep: int) -> list[str]:
        """Delete versions beyond the live one and the ``keep`` most recent in history."""
        if keep < 0:
            raise ValueError("keep must be >= 0")
        state = self._state()
        kept = {state["live"], *state["history"][-keep:]} if keep else {state["live"]}
        removed = [n for n in self.names() if n not in kept]
        for name in removed:
            shutil.rmtree(self.dir / name, ignore_errors=True)
        if removed:
            self._write_state(
                {"live": state["live"], "history": [h for h in state["history"] if h in kept]}
            )
        return removed

    def manifest(self, name: str) -> Manifest:
        return Manifest.model_validate_json((self.dir / name / "manifest.json").read_text())
