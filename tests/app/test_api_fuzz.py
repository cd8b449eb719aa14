"""Property-based fuzzing of every route in the OpenAPI document (schemathesis).

Each generated request is sent three times, without a key, with an editor's key and with
an admin's key, to the app in-process over an engine in its own home (write routes change
it). A response fails the test if it is a 5xx, if its status code is not documented for the
route, or if its body does not match the documented schema. The example count and seed are
fixed so the run is reproducible and stays short; ``KGSEARCH_FUZZ_EXAMPLES`` raises the count
(see docs/security.md)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from catalog.support import build_engine, make_keys
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup

from app.api import create_app
from app.auth import HEADER
from app.engine import Engine
from search.encoder import MiniLMEncoder

#: Examples per route; each is sent with three keys. Raise it for a deeper run.
EXAMPLES = int(os.environ.get("KGSEARCH_FUZZ_EXAMPLES", "8"))
SEED = 17

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def fuzz_engine(
    tmp_path_factory: pytest.TempPathFactory, encoder: MiniLMEncoder
) -> Iterator[Engine]:
    built = build_engine(tmp_path_factory.mktemp("fuzz-home"), encoder)
    yield built
    built.close()


@pytest.fixture(scope="module")
def fuzz_app(fuzz_engine: Engine) -> FastAPI:
    return create_app(fuzz_engine)


@pytest.fixture(scope="module")
def callers(fuzz_engine: Engine) -> dict[str, dict[str, str]]:
    """The headers of each caller: none, an editor, an admin."""
    keys = make_keys(fuzz_engine)
    return {"anonymous": {}, "editor": {HEADER: keys.editor}, "admin": {HEADER: keys.admin}}


def _fuzz(
    operation: Any,
    mode: GenerationMode,
    callers: dict[str, dict[str, str]],
    failures: list[str],
) -> None:
    """Send ``EXAMPLES`` generated requests of ``mode`` to ``operation`` as every caller;
    record (do not raise) what fails, so one run lists every route's findings."""
    seen: set[str] = set()

    def note(key: str, details: str) -> None:
        if key not in seen:
            seen.add(key)
            failures.append(f"{key}\n{details}")

    @seed(SEED)
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def run(case: schemathesis.Case) -> None:
        for who, headers in callers.items():
            try:
                case.call_and_validate(headers=headers, checks=CHECKS)
            except FailureGroup as group:  # checks failed: keep the first of each kind
                for failure in group.exceptions:
                    note(f"{operation.label} as {who}: {failure}".splitlines()[0], str(group))
            except Exception as exc:  # the app raised (a 500 in production): a finding too
                note(
                    f"{operation.label} as {who}: the app raised {type(exc).__name__}: {exc}",
                    f"curl: {case.as_curl_command(headers=headers)}",
                )

    with contextlib.suppress(Unsatisfiable):  # nothing to break in this mode (no parameters)
        run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_route_answers_5xx_or_off_its_schema(
    fuzz_app: FastAPI, callers: dict[str, dict[str, str]], mode: GenerationMode
) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 30, "the app's OpenAPI document lost its routes"
    for operation in operations:
        _fuzz(operation, mode, callers, failures)
    assert not failures, f"{len(failures)} finding(s):\n" + "\n\n".join(failures)


def test_every_route_declares_its_answer_and_its_errors(fuzz_app: FastAPI) -> None:
    """A route whose success answer has no schema (a route returning ``Any`` without a
    ``response_model``) passes the fuzzer's body check whatever it returns; a keyed route
    must document what its key check answers. Both are checked here for every route."""
    undeclared, unkeyed = [], []
    for path, operations in fuzz_app.openapi()["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            ok = next(s for s in sorted(responses) if s.startswith("2"))
            schema = responses[ok].get("content", {}).get("application/json", {}).get("schema")
            if not schema or set(schema) <= {"title", "description"}:
                undeclared.append(f"{method.upper()} {path}")
            if operation.get("security") and not {"401", "403"} <= set(responses):
                unkeyed.append(f"{method.upper()} {path}")
    assert not undeclared, f"routes without a response model: {undeclared}"
    assert not unkeyed, f"keyed routes that do not document 401/403: {unkeyed}"
