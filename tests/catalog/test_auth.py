"""API keys: hashed at rest, shown once, checked in constant time, revocable; roles."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.auth import AuthError, KeyStore, Role
from app.settings import Settings


def code_of(store: KeyStore, key: str | None) -> str:
    with pytest.raises(AuthError) as exc:
        store.verify(key)
    assert exc.value.status == 401
    return exc.value.code


def test_keys_are_stored_hashed_and_shown_once(tmp_path: Path) -> None:
    store = KeyStore(path=tmp_path / "keys.json")
    created = store.create(user="ana", role=Role.EDITOR, created_by="test")
    assert created.key.startswith(f"kgs_{created.key_id}_")
    text = (tmp_path / "keys.json").read_text()
    secret = created.key.split("_", 2)[2]
    assert secret not in text and created.key not in text
    entry = json.loads(text)["keys"][0]
    assert {"salt", "scrypt", "user", "role", "key_id"} <= set(entry)
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    principal = store.verify(created.key)
    assert (principal.user, principal.role) == ("ana", Role.EDITOR)
    assert all("scrypt" not in k and "salt" not in k for k in store.list())


def test_wrong_missing_revoked_and_forged_keys_are_refused(tmp_path: Path) -> None:
    store = KeyStore(path=tmp_path / "keys.json")
    created = store.create(user="ana", role="viewer", created_by="test")
    assert code_of(store, None) == "missing_api_key"
    assert code_of(store, "") == "missing_api_key"
    assert code_of(store, created.key[:-1] + ("A" if created.key[-1] != "A" else "B")) == (
        "invalid_api_key"
    )
    assert code_of(store, f"kgs_ffffffffffff_{created.key.split('_', 2)[2]}") == ("invalid_api_key")
    store.verify(created.key)  # now remembered
    other_process = KeyStore(path=tmp_path / "keys.json")
    assert other_process.revoke(created.key_id)
    assert code_of(store, created.key) == "invalid_api_key"  # the file moved: checked again


def test_there_is_no_default_key(tmp_path: Path) -> None:
    store = KeyStore(path=tmp_path / "keys.json")
    for guess in ("admin", "changeme", "kgsearch", "secret", "kgs__", "kgs_admin_admin"):
        assert code_of(store, guess) == "invalid_api_key"


def test_the_bootstrap_admin_key_comes_from_settings(tmp_path: Path) -> None:
    store = KeyStore(path=tmp_path / "keys.json", bootstrap_admin="a-long-bootstrap-key-123")
    assert store.verify("a-long-bootstrap-key-123").role is Role.ADMIN
    assert code_of(store, "a-long-bootstrap-key-12") == "invalid_api_key"
    with pytest.raises(ValidationError, match="KGSEARCH_ADMIN_API_KEY"):
        Settings(home=tmp_path, mode="production")
    with pytest.raises(ValidationError):
        Settings(home=tmp_path, mode="production", admin_api_key="short")
    ok = Settings(home=tmp_path, mode="production", admin_api_key="x" * 16)
    assert ok.admin_api_key is not None


def test_bad_users_and_roles_are_refused(tmp_path: Path) -> None:
    store = KeyStore(path=tmp_path / "keys.json")
    with pytest.raises(ValueError):
        store.create(user=" ", role=Role.EDITOR, created_by="t")
    with pytest.raises(ValueError):
        store.create(user="ana", role="root", created_by="t")


def test_failed_attempts_on_one_key_id_are_throttled_without_hashing(tmp_path: Path) -> None:
    now = [1_000.0]
    store = KeyStore(
        path=tmp_path / "keys.json", max_failures=3, failure_window_s=60, clock=lambda: now[0]
    )
    created = store.create(user="ana", role="editor", created_by="test")
    other = store.create(user="bo", role="editor", created_by="test")
    wrong = f"kgs_{created.key_id}_{'x' * 43}"
    for _ in range(3):
        assert code_of(store, wrong) == "invalid_api_key"
    with pytest.raises(AuthError) as exc:
        store.verify(created.key)  # even the right secret waits: the id is under attack
    assert (exc.value.status, exc.value.code) == (429, "too_many_failed_attempts")
    assert exc.value.retry_after == 60
    assert store.verify(other.key).user == "bo"  # other key ids are not affected
    now[0] += 30
    with pytest.raises(AuthError) as exc:
        store.verify(wrong)
    assert exc.value.retry_after == 30
    now[0] += 31  # the window has passed
    assert store.verify(created.key).user == "ana"
    assert code_of(store, "kgs_" + "y" * 300) == "invalid_api_key"  # refused unhashed
