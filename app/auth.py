"""API keys with roles: hashed storage in a JSON file, and FastAPI dependencies.

A key reads ``kgs_<key id>_<secret>``. The file keeps, per key, its id, user, role, a
random salt and the scrypt hash of the secret, never the key; a presented key is looked
up by its id and its hash compared in constant time. Keys are shown once, when created.
A bootstrap admin key may come from settings (``KGSEARCH_ADMIN_API_KEY``; mandatory in
production mode); there is no default key in any mode.

Roles: ``viewer`` (search, explanations), ``editor`` (catalog edits), ``merchandiser``
(pins/boosts, explanations), ``storefront`` (the shop's backend: reports shopper events,
reads and erases a shopper's profile on the shopper's behalf), ``admin`` (everything:
reindex, keys). A route names the roles it admits; ``admin`` is admitted everywhere.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import Request, Security
from fastapi.security import APIKeyHeader

__all__ = [
    "AuthError",
    "CreatedKey",
    "KeyStore",
    "Principal",
    "Require",
    "Role",
]

HEADER = "X-API-Key"
_PREFIX = "kgs"
# scrypt cost: 2**14 x 8 x 128 B = 16 MiB and tens of milliseconds per check; verified
# keys are remembered by their SHA-256 so a busy client pays that once.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
#: A key is ``kgs_<12 hex>_<43 url-safe>``; anything much longer is refused unhashed.
_MAX_KEY_LENGTH = 200


class Role(StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    MERCHANDISER = "merchandiser"
    STOREFRONT = "storefront"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's user (the change log's actor) and role."""

    user: str
    role: Role
    key_id: str


@dataclass(frozen=True, slots=True)
class CreatedKey:
    """A new key: ``key`` is shown this once and stored only as a hash."""

    key: str
    key_id: str
    user: str
    role: Role
    created_at: str


class AuthError(Exception):
    """401 (no or unknown key), 403 (a role the route does not admit) or 429 (too many
    failed attempts on one key id; ``retry_after`` seconds)."""

    def __init__(
        self, status: int, code: str, message: str, *, retry_after: int | None = None
    ) -> None:
        self.status, self.code, self.retry_after = status, code, retry_after
        super().__init__(message)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _hash(secret: str, salt: bytes) -> bytes:
    return hashlib.scrypt(secret.encode(), salt=salt, **_SCRYPT)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def _check_user(user: str) -> str:
    user = user.strip()
    if not user or len(user) > 100 or any(ord(c) < 32 for c in user):
        raise ValueError("user must be 1-100 characters of text")
    return user


class KeyStore:
    """API keys in one JSON file (mode 0600), written atomically under a file lock."""

    def __init__(
        self,
        *,
        path: Path,
        bootstrap_admin: str | None = None,
        max_failures: int = 5,
        failure_window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = path
        self._bootstrap = _digest(bootstrap_admin) if bootstrap_admin else None
        self._lock = threading.Lock()
        self._verified: dict[bytes, Principal] = {}
        self._stamp: tuple[int, int] | None = None
        # Failed checks per key id: after ``max_failures`` within ``failure_window_s`` a
        # key id is refused without its (deliberately slow) scrypt check until the
        # window has passed, so guessing one key's secret cannot pin the CPU.
        self.max_failures = max_failures
        self.failure_window_s = failure_window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._failures_lock = threading.Lock()

    # -- the file -------------------------------------------------------------------------

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with self._lock, lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        body = json.loads(self.path.read_text(encoding="utf-8"))
        keys = body.get("keys", []) if isinstance(body, dict) else []
        return [k for k in keys if isinstance(k, dict)]

    def _write(self, keys: list[dict[str, Any]]) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"version": 1, "keys": keys}, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(self.path)
        self._verified.clear()

    def _file_stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_ino)

    # -- keys -----------------------------------------------------------------------------

    def create(self, *, user: str, role: Role | str, created_by: str) -> CreatedKey:
        role = Role(role)
        user = _check_user(user)
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_bytes(16)
        created_at = datetime.now(UTC).isoformat(timespec="seconds")
        entry = {
            "key_id": key_id,
            "user": user,
            "role": role.value,
            "salt": _b64(salt),
            "scrypt": _b64(_hash(secret, salt)),
            "created_at": created_at,
            "created_by": created_by,
            "revoked": False,
        }
        with self._locked():
            keys = self._read()
            keys.append(entry)
            self._write(keys)
        return CreatedKey(f"{_PREFIX}_{key_id}_{secret}", key_id, user, role, created_at)

    def list(self) -> list[dict[str, Any]]:
        """Every key without its hash and salt."""
        with self._locked():
            return [
                {k: v for k, v in entry.items() if k not in ("salt", "scrypt")}
                for entry in self._read()
            ]

    def revoke(self, key_id: str) -> bool:
        with self._locked():
            keys = self._read()
            hit = [k for k in keys if k.get("key_id") == key_id and not k.get("revoked")]
            for entry in hit:
                entry["revoked"] = True
            if hit:
                self._write(keys)
            return bool(hit)

    def verify(self, presented: str | None) -> Principal:
        """The principal of a presented key; :class:`AuthError` (401) if none or unknown."""
        if not presented:
            raise AuthError(401, "missing_api_key", f"send an API key in the {HEADER} header")
        digest = _digest(presented)
        stamp = self._file_stamp()
        if stamp != self._stamp:
            self._verified.clear()
            self._stamp = stamp
        known = self._verified.get(digest)
        if known is not None:
            return known
        if len(presented) > _MAX_KEY_LENGTH:
            raise AuthError(401, "invalid_api_key", "the API key is unknown or revoked")
        key_id = presented.partition("_")[2].partition("_")[0]
        self._refuse_if_throttled(key_id)
        principal = self._check(presented, digest)
        if principal is None:
            self._failed(key_id)
            raise AuthError(401, "invalid_api_key", "the API key is unknown or revoked")
        self._verified[digest] = principal
        return principal

    def _recent_failures(self, key_id: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key_id, deque())
        while failures and now - failures[0] >= self.failure_window_s:
            failures.popleft()
        return failures

    def _refuse_if_throttled(self, key_id: str) -> None:
        with self._failures_lock:
            now = self._clock()
            failures = self._recent_failures(key_id, now)
            if len(failures) < self.max_failures:
                return
            wait = max(1, math.ceil(self.failure_window_s - (now - failures[0])))
        raise AuthError(
            429,
            "too_many_failed_attempts",
            f"{self.max_failures} failed attempts with this key id in the last "
            f"{self.failure_window_s:g} s; retry in {wait} s with the right key",
            retry_after=wait,
        )

    def _failed(self, key_id: str) -> None:
        with self._failures_lock:
            now = self._clock()
            self._recent_failures(key_id, now).append(now)
            if len(self._failures) > 10_000:  # forget key ids with no recent failure
                for stale in [k for k, f in self._failures.items() if not f]:
                    del self._failures[stale]

    def _check(self, presented: str, digest: bytes) -> Principal | None:
        if self._bootstrap is not None and hmac.compare_digest(digest, self._bootstrap):
            return Principal("admin", Role.ADMIN, "bootstrap")
        prefix, _, rest = presented.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != _PREFIX or not key_id or not secret:
            return None
        with self._locked():
            entries = [k for k in self._read() if k.get("key_id") == key_id]
        for entry in entries:
            expected = _unb64(str(entry.get("scrypt", "")))
            actual = _hash(secret, _unb64(str(entry.get("salt", ""))))
            if hmac.compare_digest(actual, expected) and not entry.get("revoked"):
                return Principal(str(entry["user"]), Role(entry["role"]), key_id)
        return None


# -- FastAPI --------------------------------------------------------------------------------


def key_store(request: Request) -> KeyStore:
    keys: KeyStore = request.app.state.key_store
    return keys


#: The key header as an OpenAPI security scheme: every route behind :class:`Require` says
#: so in the document (and /docs offers an "Authorize" box). It only reads the header.
KEY_SCHEME = APIKeyHeader(
    name=HEADER,
    scheme_name="APIKey",
    description="An API key (kgsearch keys create); its role decides the routes it may use.",
    auto_error=False,
)


class Require:
    """A dependency admitting callers whose key has one of ``roles`` (``admin`` always):
    ``Depends(Require(Role.EDITOR))``. :attr:`roles` says whom it admits."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset({Role.ADMIN, *roles})
        self._names = ", ".join(sorted(r.value for r in self.roles))

    def __call__(
        self, request: Request, key: Annotated[str | None, Security(KEY_SCHEME)] = None
    ) -> Principal:
        principal = key_store(request).verify(key)
        if principal.role not in self.roles:
            raise AuthError(
                403,
                "forbidden",
                f"role {principal.role.value!r} may not do this (needs one of: {self._names})",
            )
        return principal
