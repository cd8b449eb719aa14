"""Request limits enforced before any route reads a body: a size cap per path, checked
against the declared ``Content-Length`` and again while the body streams in, and the API
key's presence on the routes that need one. A 12 MB body sent without a key is refused
after its headers, not after it has been read and parsed.

A pure ASGI middleware (no body buffering of its own); the answers are the API's JSON
error shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyLimits", "BodyTooLarge", "LimitBodies"]

_NO_BODY = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyTooLarge(Exception):
    """A streamed body passed its limit (raised from ``receive``; the API answers 413)."""

    code = "body_too_large"

    def __init__(self, limit: int, path: str) -> None:
        self.limit = limit
        super().__init__(_too_large(limit, path))


def _too_large(limit: int, path: str) -> str:
    return (
        f"the request body is over the {limit:,} bytes {path} accepts; send less "
        "(split an import or an event batch), or raise the limit in the settings"
    )


@dataclass(frozen=True)
class BodyLimits:
    """The largest body per request: ``by_path`` for the exact paths named there (uploads,
    event batches), ``default`` for every other; ``keyed`` path prefixes must carry
    ``key_header`` before their body is read."""

    default: int
    by_path: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    keyed: tuple[str, ...] = ()
    key_header: str = "X-API-Key"

    def limit(self, path: str) -> int:
        return self.by_path.get(path.rstrip("/") or "/", self.default)


class LimitBodies:
    """ASGI middleware applying :class:`BodyLimits`."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits
        self._key_header = limits.key_header.lower().encode("latin-1")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in _NO_BODY:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        headers = dict(scope["headers"])
        if path.startswith(self.limits.keyed) and not headers.get(self._key_header):
            header = self.limits.key_header
            await _answer(send, 401, "missing_api_key", f"send an API key in the {header} header")
            return
        limit = self.limits.limit(path)
        declared = headers.get(b"content-length")
        if declared is not None and not declared.isdigit():
            await _answer(send, 400, "malformed_body", "Content-Length is not a number")
            return
        if declared is not None and int(declared) > limit:
            await _answer(send, 413, BodyTooLarge.code, _too_large(limit, path))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit, path)
            return message

        await self.app(scope, counted, send)


async def _answer(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "field": None}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
