"""Kept-alive connections are closed after a number of requests, so that load spreads
across worker processes again.

The workers share one listening socket, and the kernel hands each new connection to
whichever worker accepts it first. A client that keeps its connection stays with that
worker for good: eight kept-alive clients on two workers were split 4/4, 5/3, 6/2 and
7/1 in five tries on this machine, and the worker holding six or seven of them queues
while the other idles. Closing a connection after ``requests`` requests (``Connection:
close`` on the last response; HTTP clients then reconnect on their next request) lets
the next accept go to whichever worker is free at that moment, as nginx's
``keepalive_requests`` does for its upstreams.
"""

from __future__ import annotations

from collections import OrderedDict

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["RecycleConnections"]

_CLOSE = (b"connection", b"close")


class RecycleConnections:
    """ASGI middleware: the ``requests``-th request on a connection gets ``Connection:
    close`` on its response. A connection is known by its client address, which is
    unique while it is open; at most ``remembered`` addresses are counted (the oldest are
    forgotten, as are those of clients that closed first)."""

    def __init__(self, app: ASGIApp, *, requests: int, remembered: int = 4096) -> None:
        if requests < 1:
            raise ValueError(f"requests must be >= 1, got {requests}")
        self.app = app
        self.requests = requests
        self.remembered = remembered
        self._served: OrderedDict[tuple[str, int], int] = OrderedDict()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] != "http" or client is None:
            await self.app(scope, receive, send)
            return
        key = (str(client[0]), int(client[1]))
        served = self._served.pop(key, 0) + 1
        if served < self.requests:
            self._served[key] = served  # moves it to the newest end
            if len(self._served) > self.remembered:
                self._served.popitem(last=False)
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), _CLOSE]}
            await send(message)

        await self.app(scope, receive, closing)
