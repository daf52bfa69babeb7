"""A fake Telegram Bot API server on 127.0.0.1, strict the way Telegram is.

Point python-telegram-bot at it with `ApplicationBuilder().base_url(server.base_url)`.
Tests inject updates (`push_message`, `push_callback`, `push_voice`...), script failures
(`fail_next`) and assert on `calls` / `messages`. Everything is thread-safe: the HTTP server
runs in its own threads while the test drives the bot from asyncio.

Files work as on the real Bot API: `push_voice` / `push_audio` register their bytes, getFile
returns a `file_path`, and `GET /file/bot<token>/<file_path>` serves them (`downloads`).
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote

MAX_TEXT = 4096
MAX_GET_FILE = 20 * 1024 * 1024  # getFile refuses bigger files ("file is too big")
MAX_CALLBACK_DATA = 64
ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+\s*=\s*\"[^\"]*\")*)\s*>")
_ENTITY_RE = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);")


class TelegramError(Exception):
    """A Bot API error answer: HTTP status and description."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts."""
    return len(text.encode("utf-16-le")) // 2


def parse_telegram_html(text: str) -> str:
    """Plain text of a Telegram HTML message; ValueError like Telegram's parser."""
    out: list[str] = []
    stack: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            match = _TAG_RE.match(text, i)
            if match is None:
                raise ValueError(f"unsupported start tag at byte offset {i}")
            closing, name = bool(match.group(1)), match.group(2).lower()
            if name not in ALLOWED_TAGS:
                raise ValueError(f'unsupported start tag "{name}" at byte offset {i}')
            if closing:
                if not stack or stack[-1] != name:
                    raise ValueError(f'can\'t find start tag for "{name}" at byte offset {i}')
                stack.pop()
            else:
                stack.append(name)
            i = match.end()
        elif char == "&":
            match = _ENTITY_RE.match(text, i)
            if match is None:
                raise ValueError(f"unescaped & at byte offset {i}")
            body = match.group(1)
            if body.startswith("#"):
                out.append(html.unescape(match.group()))
            elif body in _NAMED_ENTITIES:
                out.append(_NAMED_ENTITIES[body])
            else:
                raise ValueError(f'unsupported entity "{body}" at byte offset {i}')
            i = match.end()
        elif char == ">":
            raise ValueError(f"unexpected > at byte offset {i}")
        else:
            out.append(char)
            i += 1
    if stack:
        raise ValueError(f'can\'t find end tag corresponding to start tag "{stack[-1]}"')
    return "".join(out)


def check_text(text: str | None, parse_mode: str | None) -> str:
    """Validate a message text like sendMessage does; returns the plain text."""
    if text is None:
        raise TelegramError(400, "Bad Request: message text is empty")
    plain = text
    if parse_mode and parse_mode.upper() == "HTML":
        try:
            plain = parse_telegram_html(text)
        except ValueError as exc:
            raise TelegramError(400, f"Bad Request: can't parse entities: {exc}") from exc
    if not plain.strip():
        raise TelegramError(400, "Bad Request: message text is empty")
    if utf16_len(plain) > MAX_TEXT:
        raise TelegramError(400, "Bad Request: message is too long")
    return plain


def check_markup(raw: str | None) -> dict[str, Any] | None:
    """Validate reply_markup (inline keyboards: callback_data at most 64 bytes)."""
    if not raw:
        return None
    markup: dict[str, Any] = json.loads(raw)
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise TelegramError(400, "Bad Request: BUTTON_TEXT_EMPTY")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= MAX_CALLBACK_DATA:
                raise TelegramError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


@dataclass
class Call:
    """One request the bot made."""

    method: str
    params: dict[str, Any]
    at: float
    status: int = 200
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass
class SentMessage:
    """A message as the fake holds it (sent by the bot or by a user)."""

    chat_id: int
    message_id: int
    text: str | None
    parse_mode: str | None = None
    reply_markup: dict[str, Any] | None = None
    from_bot: bool = True
    document: tuple[str, bytes] | None = None
    edits: int = 0
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def plain(self) -> str:
        """Text as a user sees it."""
        if self.text is None:
            return ""
        if self.parse_mode and self.parse_mode.upper() == "HTML":
            return parse_telegram_html(self.text)
        return self.text

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(text, callback_data) of every inline button."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    drop: bool
    remaining: int


class FakeTelegram:
    """The fake Bot API: start(), point PTB at `base_url`, inject updates, assert on calls."""

    def __init__(
        self,
        token: str = "123456:TEST-token",
        *,
        bot_id: int = 999,
        bot_username: str = "pilote_ia_bot",
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.calls: list[Call] = []
        self.method_counts: Counter[str] = Counter()  # every request, even once calls is cleared
        self.messages: dict[tuple[int, int], SentMessage] = {}
        self.allowed_updates: list[str] | None = None
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._next_message_id: dict[int, int] = {}
        self._failures: dict[str, _Failure] = {}
        self._files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self.downloads: list[str] = []  # file paths fetched from /file/bot<token>/
        self._cond = threading.Condition()
        self._stopping = False
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> FakeTelegram:
        """Listen on a free port of 127.0.0.1 in a background thread."""
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Wake long polls and shut the server down."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def port(self) -> int:
        """The TCP port the fake listens on."""
        assert self._server is not None, "call start() first"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """Value for PTB's `base_url` (the token is appended by PTB)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_user(self) -> dict[str, Any]:
        """The getMe result."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Pilote IA",
            "username": self.bot_username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    # -- injecting updates ----------------------------------------------------

    def push_update(self, payload: dict[str, Any]) -> int:
        """Queue a raw update (without update_id); returns its update_id."""
        with self._cond:
            update_id = self._next_update_id
            self._next_update_id += 1
            self._updates.append({"update_id": update_id, **payload})
            self._cond.notify_all()
        return update_id

    def _new_message_id(self, chat_id: int) -> int:
        with self._cond:
            self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
            return self._next_message_id[chat_id]

    @staticmethod
    def user(user_id: int) -> dict[str, Any]:
        """A human sender."""
        return {
            "id": user_id,
            "is_bot": False,
            "first_name": f"User{user_id}",
            "language_code": "fr",
        }

    @staticmethod
    def chat(chat_id: int, chat_type: str) -> dict[str, Any]:
        """A chat object."""
        chat: dict[str, Any] = {"id": chat_id, "type": chat_type}
        if chat_type == "private":
            chat["first_name"] = f"User{chat_id}"
        else:
            chat["title"] = "Groupe de test"
        return chat

    def push_message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        chat_type: str = "private",
        reply_to_message_id: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> int:
        """Queue a user message; commands and @mentions get their entities."""
        message_id = self._new_message_id(chat_id)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type),
            "from": self.user(user_id),
        }
        if text is not None:
            message["text"] = text
            entities = _entities(text)
            if entities:
                message["entities"] = entities
        if reply_to_message_id is not None:
            replied = self.messages.get((chat_id, reply_to_message_id))
            message["reply_to_message"] = (
                replied.raw
                if replied
                else {
                    "message_id": reply_to_message_id,
                    "date": int(time.time()),
                    "chat": self.chat(chat_id, chat_type),
                    "from": self.bot_user,
                    "text": "…",
                }
            )
        message.update(extra or {})
        self.messages[(chat_id, message_id)] = SentMessage(
            chat_id, message_id, text, from_bot=False, raw=message
        )
        return self.push_update({"message": message})

    def add_file(self, content: bytes, folder: str, extension: str) -> str:
        """Serve `content` through getFile and the file URL; returns its file_id."""
        with self._cond:
            number = len(self._files) + 1
            file_id = f"{folder}-{number}"
            self._files[file_id] = (f"{folder}/file_{number}.{extension}", content)
        return file_id

    def push_voice(
        self,
        chat_id: int,
        user_id: int,
        content: bytes = b"OggS fake opus voice note",
        *,
        duration: int = 4,
        file_size: int | None = None,
        mime_type: str = "audio/ogg",
        **kwargs: Any,
    ) -> int:
        """Queue a voice note whose file holds `content` (`file_size` may claim otherwise)."""
        file_id = self.add_file(content, "voice", "oga")
        voice = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "duration": duration,
            "mime_type": mime_type,
            "file_size": len(content) if file_size is None else file_size,
        }
        return self.push_message(chat_id, user_id, extra={"voice": voice}, **kwargs)

    def push_audio(
        self,
        chat_id: int,
        user_id: int,
        content: bytes = b"ID3 fake mp3",
        *,
        duration: int | None = 30,
        mime_type: str = "audio/mpeg",
        file_name: str = "message.mp3",
        **kwargs: Any,
    ) -> int:
        """Queue an audio file, or an audio document when `duration` is None."""
        file_id = self.add_file(content, "music", file_name.rsplit(".", 1)[-1])
        media: dict[str, Any] = {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "mime_type": mime_type,
            "file_name": file_name,
            "file_size": len(content),
        }
        if duration is None:
            return self.push_message(chat_id, user_id, extra={"document": media}, **kwargs)
        media["duration"] = duration
        return self.push_message(chat_id, user_id, extra={"audio": media}, **kwargs)

    def push_photo(self, chat_id: int, user_id: int) -> int:
        """Queue a photo."""
        size = {"file_id": "photo-1", "file_unique_id": "p1", "width": 90, "height": 90}
        return self.push_message(chat_id, user_id, extra={"photo": [size]})

    def push_callback(self, chat_id: int, user_id: int, data: str, message_id: int) -> int:
        """Queue a tap on an inline button of a message the bot sent."""
        sent = self.messages[(chat_id, message_id)]
        return self.push_update(
            {
                "callback_query": {
                    "id": f"cq{chat_id}-{message_id}-{len(self.calls)}",
                    "from": self.user(user_id),
                    "chat_instance": f"ci{chat_id}",
                    "data": data,
                    "message": sent.raw,
                }
            }
        )

    # -- scripted failures ----------------------------------------------------

    def fail_next(
        self,
        method: str,
        count: int = 1,
        *,
        status: int = 429,
        retry_after: int | None = 1,
        drop: bool = False,
        description: str = "",
    ) -> None:
        """Make the next `count` calls of `method` fail (429, 5xx, or a dropped connection)."""
        if not description:
            description = (
                f"Too Many Requests: retry after {retry_after}"
                if status == 429
                else "Internal Server Error"
            )
        with self._cond:
            self._failures[method] = _Failure(
                status, description, retry_after if status == 429 else None, drop, count
            )

    # -- assertions -----------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Successful calls of one method, in order."""
        with self._cond:
            return [c for c in self.calls if c.method == method and c.status == 200]

    def chat_messages(self, chat_id: int, *, from_bot: bool = True) -> list[SentMessage]:
        """Messages of a chat in id order."""
        with self._cond:
            found = [m for (c, _), m in self.messages.items() if c == chat_id]
        return sorted((m for m in found if m.from_bot == from_bot), key=lambda m: m.message_id)

    def wait_for(self, predicate: Callable[[FakeTelegram], Any], timeout: float = 10.0) -> Any:
        """Block until `predicate(self)` is truthy; returns its value or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the bot did not do what was expected in time")
                self._cond.wait(left)

    async def until(self, predicate: Callable[[FakeTelegram], Any], timeout: float = 10.0) -> Any:
        """`wait_for` for asyncio code: waits in a worker thread, not on the event loop."""
        return await asyncio.to_thread(self.wait_for, predicate, timeout)

    def pending_updates(self) -> int:
        """Updates not yet confirmed by the bot."""
        with self._cond:
            return len(self._updates)

    # -- the API --------------------------------------------------------------

    def handle(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> Any:
        """Run one API method; returns the result or raises TelegramError."""
        with self._cond:
            self.method_counts[method] += 1
        if method == "getUpdates":
            return self._get_updates(params)
        call = Call(method, params, time.monotonic(), files=files)
        with self._cond:
            self.calls.append(call)
            failure = self._failures.get(method)
            if failure is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    del self._failures[method]
                call.status = failure.status
                self._cond.notify_all()
                if failure.drop:
                    raise ConnectionAbortedError(method)
                raise TelegramError(failure.status, failure.description, failure.retry_after)
            try:
                return self._dispatch(method, params, files)
            except TelegramError as exc:
                call.status = exc.status
                raise
            finally:
                self._cond.notify_all()

    def _dispatch(
        self, method: str, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> Any:
        simple: dict[str, Any] = {
            "answerCallbackQuery": True,
            "sendChatAction": True,
            "setMyCommands": True,
            "deleteWebhook": True,
            "setWebhook": True,
            "close": True,
            "logOut": True,
            "deleteMyCommands": True,
            "getWebhookInfo": {
                "url": "",
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            },
        }
        if method == "getMe":
            return self.bot_user
        if method in simple:
            return simple[method]
        if method == "sendMessage":
            return self._send(params)
        if method == "editMessageText":
            return self._edit(params)
        if method == "editMessageReplyMarkup":
            sent = self._find(params)
            sent.reply_markup = check_markup(params.get("reply_markup"))
            sent.raw["reply_markup"] = sent.reply_markup
            return sent.raw
        if method == "deleteMessage":
            self._find(params)
            del self.messages[(int(params["chat_id"]), int(params["message_id"]))]
            return True
        if method == "sendDocument":
            return self._send_document(params, files)
        if method == "getFile":
            return self._get_file(params)
        raise TelegramError(404, "Not Found")

    def _get_file(self, params: dict[str, Any]) -> dict[str, Any]:
        found = self._files.get(str(params.get("file_id")))
        if found is None:
            raise TelegramError(400, "Bad Request: invalid file_id")
        path, content = found
        if len(content) > MAX_GET_FILE:
            raise TelegramError(400, "Bad Request: file is too big")
        file_id = str(params["file_id"])
        return {
            "file_id": file_id,
            "file_unique_id": f"u{file_id}",
            "file_size": len(content),
            "file_path": path,
        }

    def file_content(self, token: str, path: str) -> bytes | None:
        """The bytes behind `/file/bot<token>/<path>`; None when the token or path is wrong."""
        with self._cond:
            found = [c for p, c in self._files.values() if p == path]
            if token != self.token or not found:
                return None
            self.downloads.append(path)
            self._cond.notify_all()
            return found[0]

    def _find(self, params: dict[str, Any]) -> SentMessage:
        key = (int(params["chat_id"]), int(params["message_id"]))
        if key not in self.messages:
            raise TelegramError(400, "Bad Request: message to edit not found")
        return self.messages[key]

    def _store(self, chat_id: int, text: str | None, params: dict[str, Any]) -> SentMessage:
        self._next_message_id[chat_id] = self._next_message_id.get(chat_id, 0) + 1
        message_id = self._next_message_id[chat_id]
        chat_type = "private" if chat_id > 0 else "supergroup"
        markup = check_markup(params.get("reply_markup"))
        raw: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self.chat(chat_id, chat_type),
            "from": self.bot_user,
        }
        if text is not None:
            raw["text"] = text if not params.get("parse_mode") else parse_telegram_html(text)
        if markup and "inline_keyboard" in markup:  # a sent ForceReply is not echoed back
            raw["reply_markup"] = markup
        sent = SentMessage(chat_id, message_id, text, params.get("parse_mode"), markup, raw=raw)
        self.messages[(chat_id, message_id)] = sent
        return sent

    def _send(self, params: dict[str, Any]) -> dict[str, Any]:
        check_text(params.get("text"), params.get("parse_mode"))
        return self._store(int(params["chat_id"]), params["text"], params).raw

    def _edit(self, params: dict[str, Any]) -> dict[str, Any]:
        sent = self._find(params)
        check_text(params.get("text"), params.get("parse_mode"))
        markup = check_markup(params.get("reply_markup"))
        if params["text"] == sent.text and markup == sent.reply_markup:
            raise TelegramError(
                400,
                "Bad Request: message is not modified: specified new message content and "
                "reply markup are exactly the same as a current content and reply markup of the "
                "message",
            )
        sent.text, sent.parse_mode, sent.reply_markup = (
            params["text"],
            params.get("parse_mode"),
            markup,
        )
        sent.edits += 1
        sent.raw["text"] = sent.plain
        sent.raw.pop("reply_markup", None)
        if markup:
            sent.raw["reply_markup"] = markup
        return sent.raw

    def _send_document(
        self, params: dict[str, Any], files: dict[str, tuple[str, bytes]]
    ) -> dict[str, Any]:
        document = files.get("document")
        if document is None:
            raise TelegramError(400, "Bad Request: there is no document in the request")
        caption = params.get("caption")
        if caption is not None and utf16_len(caption) > 1024:
            raise TelegramError(400, "Bad Request: message caption is too long")
        sent = self._store(int(params["chat_id"]), None, params)
        sent.document = document
        sent.raw["document"] = {
            "file_id": f"doc{sent.message_id}",
            "file_unique_id": "d",
            "file_name": document[0],
        }
        return sent.raw

    def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        timeout = float(params.get("timeout") or 0)
        limit = int(params.get("limit") or 100)
        if params.get("allowed_updates"):
            self.allowed_updates = json.loads(params["allowed_updates"])
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if offset:
                    left = [u for u in self._updates if u["update_id"] >= offset]
                    if len(left) != len(self._updates):
                        self._updates = left
                        self._cond.notify_all()  # wakes `wait_for(pending_updates() == 0)`
                if self._updates or self._stopping:
                    return list(self._updates[:limit])
                left = deadline - time.monotonic()
                if left <= 0:
                    return []
                self._cond.wait(left)


def _entities(text: str) -> list[dict[str, Any]]:
    entities = []
    for match in re.finditer(r"(?:^/[a-zA-Z0-9_]+(?:@[a-zA-Z0-9_]+)?)|@[a-zA-Z0-9_]{5,}", text):
        kind = "bot_command" if match.group().startswith("/") else "mention"
        offset = utf16_len(text[: match.start()])
        entities.append({"type": kind, "offset": offset, "length": utf16_len(match.group())})
    return entities


Files = dict[str, tuple[str, bytes]]


def _parse_body(content_type: str, body: bytes) -> tuple[dict[str, Any], Files]:
    params: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    if content_type.startswith("multipart/form-data"):
        head = f"Content-Type: {content_type}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(head + body)
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            assert isinstance(name, str) and isinstance(payload, bytes)
            filename = part.get_filename()
            if filename is not None:
                files[name] = (filename, payload)
            else:
                params[name] = payload.decode()
        # PTB sends the file as attach://name in the "document" field
        for key, value in list(params.items()):
            if isinstance(value, str) and value.startswith("attach://"):
                ref = value.removeprefix("attach://")
                if ref in files:
                    files[key] = files[ref]
    elif content_type.startswith("application/json"):
        params = {
            k: v if isinstance(v, str) else json.dumps(v)
            for k, v in json.loads(body or b"{}").items()
        }
    else:
        params = dict(parse_qsl(body.decode()))
    return params, files


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so httpx reuses connections
    server_fake: FakeTelegram

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # quiet: tests read `calls` instead

    def do_GET(self) -> None:  # noqa: N802
        # PTB percent-encodes the file URL (the token's ":" too), as browsers may
        match = re.fullmatch(r"/file/bot([^/]+)/(.+)", unquote(self.path.split("?")[0]))
        if match is None:
            self.do_POST()
            return
        content = self.server_fake.file_content(match.group(1), match.group(2))
        if content is None:
            self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        self.wfile.write(content)

    def do_POST(self) -> None:  # noqa: N802
        fake = self.server_fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        match = re.fullmatch(r"/bot([^/]+)/([A-Za-z]+)", self.path.split("?")[0])
        if match is None or match.group(1) != fake.token:
            self._reply(
                404 if match is None else 401,
                {"ok": False, "error_code": 401, "description": "Unauthorized"},
            )
            return
        params, files = _parse_body(self.headers.get("Content-Type", ""), body)
        try:
            result = fake.handle(match.group(2), params, files)
        except ConnectionAbortedError:
            self.close_connection = True
            return
        except TelegramError as exc:
            payload: dict[str, Any] = {
                "ok": False,
                "error_code": exc.status,
                "description": exc.description,
            }
            if exc.retry_after is not None:
                payload["parameters"] = {"retry_after": exc.retry_after}
            self._reply(exc.status, payload)
            return
        self._reply(200, {"ok": True, "result": result})

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


@contextmanager
def running_fake(**kwargs: Any) -> Iterator[FakeTelegram]:
    """A started fake, stopped on exit."""
    fake = FakeTelegram(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()


# -- what Telegram sends to a bot's webhook ---------------------------------------------

WEBHOOK_SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def user(uid: int) -> dict[str, Any]:
    """A Telegram user (who is also the private chat of the same id)."""
    return {"id": uid, "is_bot": False, "first_name": f"U{uid}", "language_code": "fr"}


def text_update(update_id: int, uid: int, text: str) -> dict[str, Any]:
    """A private text message update as Telegram posts it to a webhook."""
    message = {
        "message_id": update_id,
        "date": int(time.time()),
        "chat": {"id": uid, "type": "private", "first_name": f"U{uid}"},
        "from": user(uid),
        "text": text,
    }
    return {"update_id": update_id, "message": message}


def callback_update(update_id: int, uid: int, data: str, message: dict[str, Any]) -> dict[str, Any]:
    """A tap on an inline button of `message` (the raw message the bot sent)."""
    query = {
        "id": f"cq-{update_id}",
        "from": user(uid),
        "chat_instance": f"ci{uid}",
        "data": data,
        "message": message,
    }
    return {"update_id": update_id, "callback_query": query}


def post_update(url: str, update: dict[str, Any], secret: str, timeout: float = 30) -> int | None:
    """POST an update to a webhook as Telegram does; the HTTP status, None when nobody
    answered."""
    request = urllib.request.Request(
        url,
        data=json.dumps(update).encode(),
        headers={"Content-Type": "application/json", WEBHOOK_SECRET_HEADER: secret},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return None
