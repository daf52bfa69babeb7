"""A real OpenAI-compatible HTTP server on 127.0.0.1 whose answers are scripted per request.

Usage:
    with FakeLLMServer() as server:
        server.enqueue(Behaviour.status(429, retry_after=1), Behaviour.reply('{"answer": "ok"}'))
        ... point the client at server.base_url ...
        assert len(server.requests) == 2

Behaviours are consumed in order, one per request; when the queue is empty, `default` is used.
The server is threaded (one thread per connection) so it can serve load tests.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_USAGE = {"prompt_tokens": 1500, "completion_tokens": 400, "total_tokens": 1900}


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one request."""

    kind: str  # reply | stream | status | stall | malformed | cut
    content: str = ""
    code: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    delay_s: float = 0.0
    usage: dict[str, int] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    chunk_chars: int = 12
    cut_after_chars: int = 0

    @classmethod
    def reply(
        cls, content: str, *, usage: dict[str, int] | None = None, delay_s: float = 0.0
    ) -> Behaviour:
        """A normal (non-streamed) completion whose message content is `content`."""
        return cls("reply", content=content, usage=usage or dict(DEFAULT_USAGE), delay_s=delay_s)

    @classmethod
    def stream(
        cls,
        content: str,
        *,
        usage: dict[str, int] | None = None,
        omit_usage: bool = False,
        chunk_chars: int = 12,
        delay_s: float = 0.0,
    ) -> Behaviour:
        """A streamed (SSE) completion; `omit_usage` mimics providers that never send usage."""
        return cls(
            "stream",
            content=content,
            usage=None if omit_usage else (usage or dict(DEFAULT_USAGE)),
            chunk_chars=chunk_chars,
            delay_s=delay_s,
        )

    @classmethod
    def status(
        cls, code: int, *, retry_after: float | None = None, body: str | None = None
    ) -> Behaviour:
        """An error status (429, 500, 401...) with an OpenAI-style error body."""
        headers = (("Retry-After", f"{retry_after:g}"),) if retry_after is not None else ()
        error = body or json.dumps({"error": {"message": f"fake error {code}", "code": code}})
        return cls("status", code=code, headers=headers, body=error)

    @classmethod
    def stall(cls, seconds: float) -> Behaviour:
        """Accept the request, then say nothing for `seconds`."""
        return cls("stall", delay_s=seconds)

    @classmethod
    def malformed(cls) -> Behaviour:
        """A 200 whose body is not JSON at all."""
        return cls("malformed", body="<html>proxy error</html>")

    @classmethod
    def cut(cls, content: str, *, after_chars: int = 20) -> Behaviour:
        """A stream that stops mid-way: the connection closes without the final chunk."""
        return cls("cut", content=content, cut_after_chars=after_chars)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    received_at: float


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # keep test output quiet

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
        owner = self.server.owner
        if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
            self._send_json(404, {"error": {"message": "not found"}})
            return
        behaviour = owner._record_and_next(
            RecordedRequest(
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body if isinstance(body, dict) else {},
                raw=raw,
                received_at=time.monotonic(),
            )
        )
        pause = owner.latency_s + behaviour.delay_s
        if pause and owner._stopping.wait(pause):
            return
        try:
            self._answer(behaviour, body if isinstance(body, dict) else {})
        except (BrokenPipeError, ConnectionResetError):
            return  # the client gave up (timeout): nothing to do

    def _answer(self, behaviour: Behaviour, body: dict[str, Any]) -> None:
        model = str(body.get("model", "fake-model"))
        if behaviour.kind == "stall":
            self.close_connection = True
            return
        if behaviour.kind == "status":
            self._send_raw(behaviour.code, behaviour.body.encode(), behaviour.headers)
        elif behaviour.kind == "malformed":
            self._send_raw(200, behaviour.body.encode(), (("Content-Type", "text/html"),))
        elif behaviour.kind == "reply":
            self._send_json(200, _completion(model, behaviour.content, behaviour.usage))
        elif behaviour.kind in ("stream", "cut"):
            self._stream(behaviour, model, body)
        else:
            raise ValueError(f"unknown behaviour {behaviour.kind!r}")

    def _stream(self, behaviour: Behaviour, model: str, body: dict[str, Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        content = behaviour.content
        sent = 0
        step = max(1, behaviour.chunk_chars)
        while sent < len(content):
            piece = content[sent : sent + step]
            sent += len(piece)
            self._event({"model": model, "choices": [_delta(piece, None)]})
            if behaviour.kind == "cut" and sent >= behaviour.cut_after_chars:
                self.wfile.flush()
                self.close_connection = True
                return  # no terminating chunk: the client sees a broken body
        self._event({"model": model, "choices": [_delta("", "stop")]})
        wants_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        if behaviour.usage is not None and wants_usage:
            self._event({"model": model, "choices": [], "usage": behaviour.usage})
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")

    def _event(self, payload: dict[str, Any]) -> None:
        self._chunk(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _send_json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self._send_raw(status, data, (("Content-Type", "application/json"),))

    def _send_raw(
        self, status: int, data: bytes, headers: tuple[tuple[str, str], ...] = ()
    ) -> None:
        self.send_response(status)
        names = {name.lower() for name, _ in headers}
        if "content-type" not in names:
            self.send_header("Content-Type", "application/json")
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()


def _delta(piece: str, finish: str | None) -> dict[str, Any]:
    delta = {"content": piece} if piece else {}
    return {"index": 0, "delta": delta, "finish_reason": finish}


def _completion(model: str, content: str, usage: dict[str, int] | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        payload["usage"] = usage
    return payload


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeLLMServer


class FakeLLMServer:
    """Scriptable fake of an OpenAI-compatible provider, listening on a free local port."""

    def __init__(self, *, default: Behaviour | None = None, latency_s: float = 0.0) -> None:
        self.default = default or Behaviour.reply('{"answer": "Réponse de test."}')
        self.latency_s = latency_s
        self._queue: deque[Behaviour] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        """Base URL to give the client (`.../v1`)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    @property
    def requests(self) -> list[RecordedRequest]:
        """Requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Script the next requests, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def _record_and_next(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            self._requests.append(request)
            return self._queue.popleft() if self._queue else self.default

    def start(self) -> FakeLLMServer:
        """Start serving in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release stalled handlers."""
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> FakeLLMServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
