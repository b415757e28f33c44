"""Helpers of the Segment destination's tests: load ``integrations.segment``
with a given environment, the way ``ANALYTICS_INTEGRATIONS`` loads it (the
module reads its settings and registers its hooks when imported), and a
capture server that checks what Segment's batch API checks."""

from __future__ import annotations

import base64
import gzip
import threading
import typing as t
from types import ModuleType

import orjson
import pytest
from werkzeug import Request, Response

from tests.conftest import import_fresh

WRITE_KEY = "test-write-key"
#: Segment's limits (its HTTP API documentation): a request, and one call in it.
MAX_REQUEST = 500 * 1024
MAX_CALL = 32 * 1024
#: Fast retries for tests (the defaults wait seconds).
FAST_RETRIES = {"SEGMENT_RETRY_BASE": "0.01", "SEGMENT_RETRY_MAX": "2", "SEGMENT_RETRY_ATTEMPTS": "3"}


def load_segment(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """Import (or re-import) ``integrations.segment`` with ``env`` set and
    every other ``SEGMENT_*`` variable unset."""
    import os

    for name in list(os.environ):
        if name.startswith("SEGMENT_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return import_fresh("integrations.segment")


class Capture:
    """A Segment batch endpoint for pytest-httpserver: checks authorization,
    content type, gzip, the size limits and the body's shape, answers with
    the scripted statuses (then 200), and keeps every accepted call."""

    def __init__(self, key: str = WRITE_KEY) -> None:
        self.auth = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
        self.script: list[tuple[int, dict[str, str]]] = []
        self.always: tuple[int, dict[str, str]] | None = None
        self.requests: list[list[dict[str, t.Any]]] = []  # every well-formed request's calls, answered or not
        self.accepted: list[list[dict[str, t.Any]]] = []  # calls of requests answered 200
        self.problems: list[str] = []
        self.gzipped = 0
        self._lock = threading.Lock()

    def respond(self, *answers: int | tuple[int, dict[str, str]]) -> None:
        """Answer the next requests with these statuses (and headers), then 200."""
        self.script.extend(a if isinstance(a, tuple) else (a, {}) for a in answers)

    def __call__(self, request: Request) -> Response:
        body = request.get_data()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
            self.gzipped += 1
        problem = self._check(request, body)
        with self._lock:
            if problem:
                self.problems.append(problem)
                status = 401 if problem.startswith("bad Authorization") else 400
                return Response(orjson.dumps({"success": False, "message": problem}), status)
            calls = orjson.loads(body)["batch"]
            self.requests.append(calls)
            status, headers = self.script.pop(0) if self.script else (self.always or (200, {}))
            if status == 200:
                self.accepted.append(calls)
        return Response(orjson.dumps({"success": status == 200}), status, headers=headers)

    def _check(self, request: Request, body: bytes) -> str:
        if request.headers.get("Authorization") != self.auth:
            return f"bad Authorization {request.headers.get('Authorization')!r}"
        if request.headers.get("Content-Type") != "application/json":
            return f"bad Content-Type {request.headers.get('Content-Type')!r}"
        if len(body) > MAX_REQUEST:
            return f"request of {len(body)} bytes"
        try:
            calls = orjson.loads(body)["batch"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return "not a {batch: [...]} body"
        for call in calls:
            size = len(orjson.dumps(call))
            if size > MAX_CALL:
                return f"a call of {size} bytes"
        return ""

    def calls(self) -> list[dict[str, t.Any]]:
        return [call for calls in self.accepted for call in calls]
