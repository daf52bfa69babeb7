"""A real OpenAI-compatible HTTP server on 127.0.0.1 whose answers are scripted per request.

Usage:
    with FakeLLMServer() as server:
        server.enqueue(Behaviour.status(429, retry_after=1), Behaviour.reply('{"answer": "ok"}'))
        ... point the client at server.base_url ...
        assert len(server.requests) == 2

Behaviours are consumed in order, one per request; when the queue is empty, `default` is used.
The server is threaded (one thread per connection) so it can serve load tests.

Like llama.cpp's server, it notices when a client goes away (a closed socket while it waits
or a failed write while it streams), stops "generating" and records it in `disconnects`.
`Behaviour.conform` plays a schema-constrained model: its reply is built from the JSON
schema of the request's `response_format`, as constrained decoding would produce.

`/audio/transcriptions` (multipart: file, model, language...) has its own queue
(`enqueue_transcription`) and record (`transcriptions`): `Behaviour.transcript(text)` answers
`{"text": ...}`; `status`, `stall` and `malformed` fail it the same way as a completion.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_REPLY = '{"answer": "Réponse de test : commencez petit [1]."}'
DEFAULT_USAGE = {"prompt_tokens": 1500, "completion_tokens": 400, "total_tokens": 1900}
POLL_S = 0.02
DEFAULT_TRANSCRIPT = "Je croule sous les commandes WhatsApp, que faire ?"
TRANSCRIPTION_PATHS = ("/v1/audio/transcriptions", "/audio/transcriptions")


@dataclass(frozen=True)
class Behaviour:
    """How the server answers one request."""

    kind: str  # reply | stream | status | stall | malformed | cut | conform | refuse_schema
    # | transcript
    content: str = ""
    code: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    delay_s: float = 0.0  # before anything is sent (prompt reading)
    usage: dict[str, int] | None = field(default_factory=lambda: dict(DEFAULT_USAGE))
    chunk_chars: int = 12
    chunk_delay_s: float = 0.0  # between streamed chunks (generation speed)
    cut_after_chars: int = 0
    finish_reason: str = "stop"

    @classmethod
    def reply(
        cls,
        content: str,
        *,
        usage: dict[str, int] | None = None,
        delay_s: float = 0.0,
        finish_reason: str = "stop",
    ) -> Behaviour:
        """A normal (non-streamed) completion whose message content is `content`."""
        return cls(
            "reply",
            content=content,
            usage=usage or dict(DEFAULT_USAGE),
            delay_s=delay_s,
            finish_reason=finish_reason,
        )

    @classmethod
    def stream(
        cls,
        content: str,
        *,
        usage: dict[str, int] | None = None,
        omit_usage: bool = False,
        chunk_chars: int = 12,
        delay_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        finish_reason: str = "stop",
    ) -> Behaviour:
        """A streamed (SSE) completion; `omit_usage` mimics providers that never send usage."""
        return cls(
            "stream",
            content=content,
            usage=None if omit_usage else (usage or dict(DEFAULT_USAGE)),
            chunk_chars=chunk_chars,
            delay_s=delay_s,
            chunk_delay_s=chunk_delay_s,
            finish_reason=finish_reason,
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

    @classmethod
    def conform(cls, answer: str, *, chunk_chars: int = 12, delay_s: float = 0.0) -> Behaviour:
        """A streamed reply built from the request's JSON schema (as constrained decoding
        would), with `answer` as its "answer"; plain `answer` text when no schema was sent."""
        return cls("conform", content=answer, chunk_chars=chunk_chars, delay_s=delay_s)

    @classmethod
    def transcript(cls, text: str, *, delay_s: float = 0.0) -> Behaviour:
        """A transcription reply `{"text": text}` (OpenAI's response_format=json)."""
        return cls("transcript", content=text, delay_s=delay_s)

    @classmethod
    def refuse_schema(cls, then: str) -> Behaviour:
        """400 naming response_format while the request asks for a JSON schema, else `then`."""
        return cls("refuse_schema", content=then)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    raw: bytes
    received_at: float


@dataclass(frozen=True)
class RecordedTranscription:
    """One `/audio/transcriptions` request: its form fields and the uploaded file."""

    path: str
    headers: dict[str, str]
    fields: dict[str, str]
    filename: str
    content_type: str
    audio: bytes
    received_at: float


def _transcription_request(path: str, headers: Message, raw: bytes) -> RecordedTranscription:
    """Parse a multipart transcription request (a missing file leaves `audio` empty)."""
    head = f"Content-Type: {headers.get('Content-Type', '')}\r\n\r\n".encode()
    fields: dict[str, str] = {}
    filename, content_type, audio = "", "", b""
    parsed = BytesParser(policy=HTTP).parsebytes(head + raw)
    for part in parsed.iter_parts() if parsed.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if not isinstance(name, str) or not isinstance(payload, bytes):
            continue
        file_name = part.get_filename()
        if file_name is None:
            fields[name] = payload.decode()
        else:
            filename, content_type, audio = file_name, part.get_content_type(), payload
    return RecordedTranscription(
        path=path,
        headers={k.lower(): v for k, v in headers.items()},
        fields=fields,
        filename=filename,
        content_type=content_type,
        audio=audio,
        received_at=time.monotonic(),
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # keep test output quiet

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        owner = self.server.owner
        if self.path.rstrip("/") in TRANSCRIPTION_PATHS:
            self._transcribe(raw)
            return
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = {}
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
        if not self._wait(owner.latency_s + behaviour.delay_s):
            return
        try:
            self._answer(behaviour, body if isinstance(body, dict) else {})
        except (BrokenPipeError, ConnectionResetError):
            owner._record_disconnect()  # the client gave up: stop generating

    def _transcribe(self, raw: bytes) -> None:
        owner = self.server.owner
        request = _transcription_request(self.path, self.headers, raw)
        behaviour = owner._record_transcription(request)
        if not self._wait(owner.latency_s + behaviour.delay_s):
            return
        try:
            self._answer(behaviour, {})
        except (BrokenPipeError, ConnectionResetError):
            owner._record_disconnect()

    def _wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`; False when the client hung up or the server stops."""
        owner = self.server.owner
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if owner._stopping.wait(min(POLL_S, left)):
                return False
            if self._client_gone():
                owner._record_disconnect()
                self.close_connection = True
                return False
        return True

    def _client_gone(self) -> bool:
        """True when the client closed its side (it sends nothing else after its request)."""
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            return self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _answer(self, behaviour: Behaviour, body: dict[str, Any]) -> None:
        model = str(body.get("model", "fake-model"))
        kind = behaviour.kind
        if kind == "refuse_schema":
            behaviour = _refusal_or_reply(behaviour, body)
            kind = behaviour.kind
        if kind == "conform":
            behaviour = Behaviour.stream(
                _conforming(behaviour.content, body), chunk_chars=behaviour.chunk_chars
            )
            kind = "stream"
        if kind == "stall":
            self.close_connection = True
            return
        if kind == "status":
            self._send_raw(behaviour.code, behaviour.body.encode(), behaviour.headers)
        elif kind == "malformed":
            self._send_raw(200, behaviour.body.encode(), (("Content-Type", "text/html"),))
        elif kind == "transcript":
            self._send_json(200, {"text": behaviour.content})
        elif kind == "reply":
            payload = _completion(
                model, behaviour.content, behaviour.usage, behaviour.finish_reason
            )
            self._send_json(200, payload)
        elif kind in ("stream", "cut"):
            self._stream(behaviour, model, body)
        else:
            raise ValueError(f"unknown behaviour {kind!r}")

    def _stream(self, behaviour: Behaviour, model: str, body: dict[str, Any]) -> None:
        owner = self.server.owner
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        content = behaviour.content
        sent = 0
        step = max(1, behaviour.chunk_chars)
        while sent < len(content):
            if sent and behaviour.chunk_delay_s and not self._wait(behaviour.chunk_delay_s):
                return
            piece = content[sent : sent + step]
            sent += len(piece)
            self._event({"model": model, "choices": [_delta(piece, None)]})
            owner._count_chunk()
            if behaviour.kind == "cut" and sent >= behaviour.cut_after_chars:
                self.wfile.flush()
                self.close_connection = True
                return  # no terminating chunk: the client sees a broken body
        self._event({"model": model, "choices": [_delta("", behaviour.finish_reason)]})
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


def _refusal_or_reply(behaviour: Behaviour, body: dict[str, Any]) -> Behaviour:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        message = "response_format type json_schema is not supported by this model"
        return Behaviour.status(400, body=json.dumps({"error": {"message": message}}))
    return Behaviour.stream(behaviour.content)


def _conforming(answer: str, body: dict[str, Any]) -> str:
    """A JSON text valid against the request's schema (`answer` as the answer)."""
    fmt = body.get("response_format") or {}
    schema = (
        (fmt.get("json_schema") or {}).get("schema") if fmt.get("type") == "json_schema" else None
    )
    if not isinstance(schema, dict):
        return answer
    return json.dumps(instance_of(schema, answer), ensure_ascii=False)


def instance_of(schema: dict[str, Any], answer: str, key: str = "") -> Any:
    """The first value a constrained decoder could produce for `schema`."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties") or {}
        return {name: instance_of(sub, answer, name) for name, sub in props.items()}
    if kind == "array":
        count = min(1, schema.get("maxItems", 1))
        return [instance_of(schema.get("items") or {}, answer, key) for _ in range(count)]
    if kind == "integer":
        return int(schema.get("minimum", 1))
    if kind == "number":
        return float(schema.get("minimum", 0))
    if kind == "boolean":
        return False
    text = answer if key == "answer" else f"texte {key}".strip()
    return text[: schema.get("maxLength", len(text))]


def _delta(piece: str, finish: str | None) -> dict[str, Any]:
    delta = {"content": piece} if piece else {}
    return {"index": 0, "delta": delta, "finish_reason": finish}


def _completion(
    model: str, content: str, usage: dict[str, int] | None, finish_reason: str = "stop"
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": finish_reason,
            }
        ],
    }
    if usage is not None:
        payload["usage"] = usage
    return payload


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeLLMServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing its kept-alive connection is normal: no traceback for that."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeLLMServer:
    """Scriptable fake of an OpenAI-compatible provider, listening on a free local port."""

    def __init__(self, *, default: Behaviour | None = None, latency_s: float = 0.0) -> None:
        self.default = default or Behaviour.reply(DEFAULT_REPLY)
        self.latency_s = latency_s
        self._queue: deque[Behaviour] = deque()
        self._requests: list[RecordedRequest] = []
        self.transcription_default = Behaviour.transcript(DEFAULT_TRANSCRIPT)
        self._stt_queue: deque[Behaviour] = deque()
        self._transcriptions: list[RecordedTranscription] = []
        self._disconnects: list[float] = []
        self._chunks = 0
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

    @property
    def transcriptions(self) -> list[RecordedTranscription]:
        """Transcription requests received so far, oldest first."""
        with self._lock:
            return list(self._transcriptions)

    @property
    def disconnects(self) -> list[float]:
        """When (monotonic clock) a client hung up before its answer was complete."""
        with self._lock:
            return list(self._disconnects)

    @property
    def chunks_sent(self) -> int:
        """Streamed content chunks written so far (the "tokens" generated)."""
        with self._lock:
            return self._chunks

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Script the next requests, in order."""
        with self._lock:
            self._queue.extend(behaviours)

    def enqueue_transcription(self, *behaviours: Behaviour) -> None:
        """Script the next transcription requests, in order."""
        with self._lock:
            self._stt_queue.extend(behaviours)

    def _record_transcription(self, request: RecordedTranscription) -> Behaviour:
        with self._lock:
            self._transcriptions.append(request)
            return self._stt_queue.popleft() if self._stt_queue else self.transcription_default

    def _record_and_next(self, request: RecordedRequest) -> Behaviour:
        with self._lock:
            self._requests.append(request)
            return self._queue.popleft() if self._queue else self.default

    def _record_disconnect(self) -> None:
        with self._lock:
            self._disconnects.append(time.monotonic())

    def _count_chunk(self) -> None:
        with self._lock:
            self._chunks += 1

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
