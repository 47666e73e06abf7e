"""A fake Telegram Bot API server that the real python-telegram-bot client can talk to over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import socket
import threading
import time
from collections import deque
from typing import Any, Self
from urllib.parse import parse_qsl

import uvicorn
from PIL import Image
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

logger = logging.getLogger(__name__)

# Parameters that are plain strings even when they look like JSON (PTB sends str values unencoded).
_STRING_PARAMS = {"text", "caption", "callback_query_id", "inline_message_id", "parse_mode", "file_id", "url"}
_ERRORS = {
    "400": "Bad Request: chat not found",
    "403": "Forbidden: bot was blocked by the user",
    "500": "Internal Server Error",
    "502": "Bad Gateway",
}
_ALWAYS_TRUE = {"close", "logout", "sendchataction"}  # lower-cased methods that just answer True
MAX_POLL_SECONDS = 1.0


class FakeHttpServer:
    """Base for fake providers: serves a Starlette app with uvicorn in a daemon thread and keeps faults.

    Running in a thread lets synchronous tests and the code under test (in its own event loop) use
    real HTTP clients. Faults are queued per key (chat id, phone number) or globally and consumed
    in order; a fault with ``permanent=True`` stays at the head of its key's queue forever.
    """

    name = "fake"
    fault_kinds: frozenset[str] = frozenset()

    def __init__(self, routes: list[Route]) -> None:
        self._app = Starlette(routes=routes)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._faults: dict[str, deque[dict[str, Any]]] = {}
        self._global_faults: deque[dict[str, Any]] = deque()
        self.port = 0
        self.stopping = False

    def start(self) -> Self:
        """Binds an OS-chosen port first so the URL is known before uvicorn starts."""
        # With proto IPPROTO_TCP asyncio sets TCP_NODELAY on accepted connections, as real servers have it;
        # with proto 0 Nagle's algorithm holds each response body back about 40 ms.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)  # signal handlers are only installed in the main thread
        self.stopping = False
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=self.name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} failed to start")
            time.sleep(0.01)
        logger.debug("%s listening on port %d", self.name, self.port)
        return self

    def stop(self) -> None:
        """Asks uvicorn to exit and waits, so ports and threads do not leak between tests."""
        self.stopping = True
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _sleep(self, seconds: float) -> None:
        """Sleeps in slices so a delayed response does not hold up server shutdown."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            await asyncio.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def fail_next(self, key: int | str, kind: str, times: int = 1, **kw: Any) -> None:
        """Makes the next ``times`` sends to one recipient fail (forever with ``permanent=True``)."""
        fault = self._fault(kind, times, bool(kw.pop("permanent", False)), kw)
        with self._lock:
            self._faults.setdefault(str(key), deque()).append(fault)

    def fail_all_next(self, kind: str, times: int = 1, **kw: Any) -> None:
        """Makes the next ``times`` sends fail whatever the recipient."""
        kw.pop("permanent", None)
        fault = self._fault(kind, times, False, kw)
        with self._lock:
            self._global_faults.append(fault)

    def clear_faults(self) -> None:
        """Removes all pending and permanent faults."""
        with self._lock:
            self._faults.clear()
            self._global_faults.clear()

    def _fault(self, kind: str, times: int, permanent: bool, kw: dict[str, Any]) -> dict[str, Any]:
        if kind not in self.fault_kinds:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(self.fault_kinds)}")
        return {"kind": kind, "left": times, "permanent": permanent, **kw}

    def _take_fault(self, key: str) -> dict[str, Any] | None:
        """Per-recipient faults win over global ones; each use consumes one of ``times``."""
        with self._lock:
            for queue in (self._faults.get(key), self._global_faults):
                if queue:
                    fault = queue[0]
                    if not fault["permanent"]:
                        fault["left"] -= 1
                        if fault["left"] <= 0:
                            queue.popleft()
                    return fault
        return None


class _ApiError(Exception):
    """Carries a Bot API error answer out of a method handler."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None) -> None:
        super().__init__(description)
        self.body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if parameters:
            self.body["parameters"] = parameters
        self.code = code


def _decode(name: str, value: str) -> Any:
    """Undoes PTB's form encoding: non-string values are JSON-dumped, strings are sent raw."""
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


async def _read_params(request: Request) -> dict[str, Any]:
    """Merges query string and body (JSON or urlencoded; PTB uses urlencoded unless uploading files)."""
    params: dict[str, Any] = {k: _decode(k, v) for k, v in request.query_params.items()}
    body = await request.body()
    ctype = request.headers.get("content-type", "")
    if not body:
        return params
    if ctype.startswith("multipart/form-data"):  # PTB uploads a file: keep its bytes and name
        form = await request.form()
        for key, value in form.multi_items():
            if hasattr(value, "read"):
                params[key] = {"filename": value.filename, "content": await value.read()}
            else:
                params[key] = _decode(key, value)
    elif ctype.startswith("application/json"):
        params.update(json.loads(body))
    else:
        params.update({k: _decode(k, v) for k, v in parse_qsl(body.decode(), keep_blank_values=True)})
    if isinstance(params.get("reply_markup"), str):  # JSON clients may send it pre-serialized
        params["reply_markup"] = json.loads(params["reply_markup"])
    return params


def _jpeg() -> bytes:
    """A real, tiny JPEG: what Telegram serves for a photo nobody gave bytes for."""
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (90, 120, 60)).save(out, "JPEG")
    return out.getvalue()


_A_PHOTO = _jpeg()


class FakeTelegram(FakeHttpServer):
    """Speaks the real Bot API over HTTP, records what the bot sends and can inject real failures.

    Fault kinds for sendMessage (``fail_next`` per chat, ``fail_all_next`` for any chat):
    "429" (kw retry_after=1), "500"/"502", "400" (kw description), "403" (permanent unless
    permanent=False), "migrate" (kw new_chat_id; always permanent: the old id keeps failing) and
    "timeout" (kw delay=3.0). A "timeout" send IS recorded in ``sent`` (on arrival, before the
    delay) because the real API delivers the message even when the client stops waiting.

    ``flood_control()`` makes it refuse sendMessage as Telegram does, with 429 and retry_after, above
    about 30 a second overall or 3 a second to one chat (token buckets); refusals are counted.
    """

    name = "fake-telegram"
    fault_kinds = frozenset({"429", "500", "502", "timeout", "403", "migrate", "400"})

    def __init__(self, token: str = "123456:TEST-TOKEN") -> None:
        routes = [
            Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
            Route("/file/bot{token}/{path:path}", self._file_endpoint, methods=["GET"]),
        ]
        super().__init__(routes)
        self.token = token
        bot_id = int(token.split(":")[0]) if token.split(":")[0].isdigit() else 123456
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": "Pelapor Test",
            "username": "pelapor_test_bot",
        }
        self.sent: list[dict[str, Any]] = []
        # Documents and photos the bot uploaded: chat_id, kind, filename, content (bytes), caption.
        self.files_sent: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.webhook_url = ""
        self.files: dict[str, bytes] = {}  # file_id -> bytes served to File.download_* (else a stub JPEG)
        self._updates: list[dict[str, Any]] = []
        # Set when an update is pushed, so a long poll answers at once, as Telegram's does.
        self._arrived: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self._next_update_id = 10_000
        self._next_message_id = 1
        self._messages: dict[tuple[str, int], dict[str, Any]] = {}
        self._last_bot_message: dict[str, dict[str, Any]] = {}
        self._file_paths: dict[str, str] = {}
        self._flood: dict[str, float] | None = None
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, when counted)
        self.flood_refusals = 0
        self.flood_refused: list[tuple[str, float]] = []

    def flood_control(
        self,
        per_second: float = 30.0,
        per_chat: float = 3.0,
        burst: float = 5.0,
        per_chat_burst: float = 3.0,
        retry_after: int = 1,
    ) -> None:
        """Refuse sends above these rates with 429, like Telegram's flood control; off until called."""
        with self._lock:
            self._flood = {
                "per_second": per_second,
                "per_chat": per_chat,
                "burst": burst,
                "per_chat_burst": per_chat_burst,
                "retry_after": retry_after,
            }
            self._buckets.clear()

    def _tokens(self, key: str, rate: float, capacity: float, now: float) -> float:
        tokens, when = self._buckets.get(key, (capacity, now))
        return min(capacity, tokens + (now - when) * rate)

    def _flooded(self, chat: str) -> int | None:
        """retry_after when this send would break a limit; else take one token from each bucket."""
        if self._flood is None:
            return None
        f, now = self._flood, time.monotonic()
        overall = self._tokens("", f["per_second"], f["burst"], now)
        one_chat = self._tokens(chat, f["per_chat"], f["per_chat_burst"], now)
        if overall < 1 or one_chat < 1:
            self.flood_refusals += 1
            self.flood_refused.append((chat, now))
            return int(f["retry_after"])
        self._buckets[""] = (overall - 1, now)
        self._buckets[chat] = (one_chat - 1, now)
        return None

    def max_in_window(self, seconds: float = 1.0) -> int:
        """The most successful sends within any window of this length, to check a combined rate."""
        with self._lock:
            times = sorted(s["t"] for s in self.sent)
        most, start = 0, 0
        for end, t in enumerate(times):
            while t - times[start] >= seconds:
                start += 1
            most = max(most, end - start + 1)
        return most

    @property
    def base_url(self) -> str:
        """Value for PTB's ``base_url`` (PTB appends the token and then ``/method``)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for PTB's ``base_file_url`` so File.download_* hits the fake."""
        return f"http://127.0.0.1:{self.port}/file/bot"

    def messages_to(self, chat_id: int | str) -> list[str]:
        """Texts successfully sent to a chat, comparing ids as strings."""
        with self._lock:
            return [s["text"] for s in self.sent if str(s["chat_id"]) == str(chat_id)]

    def calls(self, method: str) -> list[dict[str, Any]]:
        """Params of every call to a method (case-insensitive), failed ones included."""
        with self._lock:
            return [r["params"] for r in self.requests if r["method"].lower() == method.lower()]

    def fail_next(self, chat_id: int | str, kind: str, times: int = 1, **kw: Any) -> None:
        """Makes the next sendMessage calls to one chat fail; 403 and migrate are permanent by default."""
        if kind == "migrate" and "new_chat_id" not in kw:
            raise ValueError("migrate faults need new_chat_id=")
        kw["permanent"] = kind == "migrate" or kw.get("permanent", kind == "403")
        super().fail_next(chat_id, kind, times, **kw)

    # -- updates -----------------------------------------------------------------------------------
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by a later getUpdates offset."""
        with self._lock:
            return list(self._updates)

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queues an Update for getUpdates, assigning update_id if missing."""
        with self._lock:
            if "update_id" not in update:
                update["update_id"] = self._new_update_id()
            self._updates.append(update)
            arrived = self._arrived
        if arrived is not None:
            loop, event = arrived
            with contextlib.suppress(RuntimeError):  # the server has stopped
                loop.call_soon_threadsafe(event.set)
        return update

    def _new_update_id(self, given: int | None = None) -> int:
        if given is not None:
            self._next_update_id = max(self._next_update_id, given + 1)
            return given
        self._next_update_id += 1
        return self._next_update_id - 1

    def _message(self, chat_id: int | str, sender: dict[str, Any], **content: Any) -> dict[str, Any]:
        """A Message object; ids are shared by bot and user messages, as in a real chat."""
        self._next_message_id += 1
        message = {"message_id": self._next_message_id - 1, "from": sender, "chat": self.chat(chat_id)}
        message.update(date=int(time.time()), **content)
        return message

    @staticmethod
    def user(chat_id: int | str) -> dict[str, Any]:
        """A human user whose private chat has the same id, like in real private chats."""
        return {"id": int(chat_id), "is_bot": False, "first_name": "Test", "language_code": "id"}

    @staticmethod
    def chat(chat_id: int | str) -> dict[str, Any]:
        """Chat object; the type follows Telegram's id ranges (negative = group, -100... = supergroup)."""
        cid = int(chat_id)
        if cid > 0:
            return {"id": cid, "type": "private", "first_name": "Test"}
        return {"id": cid, "type": "supergroup" if str(cid).startswith("-100") else "group", "title": "Test"}

    def _incoming(self, chat_id: int | str, update_id: int | None, **content: Any) -> dict[str, Any]:
        with self._lock:
            return {
                "update_id": self._new_update_id(update_id),
                "message": self._message(chat_id, self.user(chat_id), **content),
            }

    def text_update(self, chat_id: int | str, text: str, *, update_id: int | None = None) -> dict[str, Any]:
        """A text message; commands get the bot_command entity PTB's CommandHandler requires."""
        extra: dict[str, Any] = {}
        if text.startswith("/"):
            extra["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return self._incoming(chat_id, update_id, text=text, **extra)

    def callback_update(
        self, chat_id: int | str, data: str, *, update_id: int | None = None, message_id: int | None = None
    ) -> dict[str, Any]:
        """A button press on the bot's last (or given) message in that chat."""
        with self._lock:
            uid = self._new_update_id(update_id)
            found = self._messages.get((str(chat_id), message_id or 0)) or (
                None if message_id else self._last_bot_message.get(str(chat_id))
            )
            if found is None:  # pretend the bot sent something earlier, so answering edits still work
                found = self._message(chat_id, self.bot_user, text="...")
                found["message_id"] = message_id or found["message_id"]
                self._messages[(str(chat_id), found["message_id"])] = found
            message = json.loads(json.dumps(found))
        query = {"id": f"cb{uid}", "from": self.user(chat_id), "chat_instance": f"ci{chat_id}", "data": data}
        return {"update_id": uid, "callback_query": {**query, "message": message}}

    def location_update(self, chat_id: int | str, lat: float, lon: float) -> dict[str, Any]:
        """A shared location (not live)."""
        return self._incoming(chat_id, None, location={"latitude": lat, "longitude": lon})

    def photo_update(self, chat_id: int | str, file_id: str, caption: str | None = None) -> dict[str, Any]:
        """A photo; like Telegram it carries several sizes, the largest last with ``file_id``."""
        sizes = [
            {"file_id": fid, "file_unique_id": f"u-{fid}", "width": w, "height": h, "file_size": w * h // 10}
            for fid, w, h in ((f"{file_id}-thumb", 90, 68), (file_id, 1280, 960))
        ]
        extra = {"caption": caption} if caption is not None else {}
        return self._incoming(chat_id, None, photo=sizes, **extra)

    def voice_update(self, chat_id: int | str, file_id: str, content: bytes) -> dict[str, Any]:
        """A voice note (OGG/Opus, as Telegram records them); its bytes are served by getFile."""
        self.files[file_id] = content
        voice = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "duration": 4}
        return self._incoming(
            chat_id, None, voice=voice | {"mime_type": "audio/ogg", "file_size": len(content)}
        )

    def sticker_update(self, chat_id: int | str) -> dict[str, Any]:
        """A sticker, i.e. content the bot does not understand."""
        sticker = {"type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False}
        sticker |= {"file_id": "CAACAgIAAxkBAAEStickerId", "file_unique_id": "AgADst", "emoji": "\U0001f44d"}
        return self._incoming(chat_id, None, sticker=sticker)

    # -- HTTP layer --------------------------------------------------------------------------------
    async def _endpoint(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            params = await _read_params(request)
        except ValueError:
            params = {}
        entry: dict[str, Any] = {"method": method, "params": params, "status": None, "t": time.monotonic()}
        with self._lock:
            self.requests.append(entry)
        try:
            if request.path_params["token"] != self.token:
                raise _ApiError(401, "Unauthorized")
            handler = getattr(self, f"_m_{method.lower()}", None)
            if handler is None and method.lower() not in _ALWAYS_TRUE:
                raise _ApiError(404, "Not Found: method not found")
            result = await handler(params) if handler else True
            entry["status"] = 200
            return JSONResponse({"ok": True, "result": result})
        except _ApiError as exc:
            entry["status"] = exc.code
            return JSONResponse(exc.body, status_code=exc.code)

    async def _file_endpoint(self, request: Request) -> Response:
        file_id = self._file_paths.get(request.path_params["path"])
        if request.path_params["token"] != self.token or file_id is None:
            return JSONResponse({"ok": False, "error_code": 404, "description": "Not Found"}, status_code=404)
        return Response(self.files.get(file_id, _A_PHOTO), media_type="image/jpeg")

    # -- Bot API methods (names are case-insensitive in the real API) ------------------------------
    async def _m_getme(self, p: dict[str, Any]) -> Any:
        return self.bot_user

    async def _m_getupdates(self, p: dict[str, Any]) -> Any:
        if self.webhook_url:
            raise _ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset, limit = int(p.get("offset") or 0), int(p.get("limit") or 100)
        deadline = time.monotonic() + min(float(p.get("timeout") or 0), MAX_POLL_SECONDS)
        if self._arrived is None or self._arrived[0] is not asyncio.get_running_loop():  # started again
            self._arrived = (asyncio.get_running_loop(), asyncio.Event())
        arrived = self._arrived[1]
        while True:
            arrived.clear()  # before looking: an update pushed after the look wakes the wait below
            with self._lock:  # an offset confirms (drops) every earlier update, like the real API
                if offset < 0:
                    self._updates = self._updates[offset:]
                elif offset:
                    self._updates = [u for u in self._updates if u["update_id"] >= offset]
                batch = self._updates[:limit]
            if batch or time.monotonic() >= deadline or self.stopping:
                return batch
            with contextlib.suppress(TimeoutError):  # in slices, so a stop is not held up
                await asyncio.wait_for(arrived.wait(), timeout=min(0.05, deadline - time.monotonic()))

    async def _m_sendmessage(self, p: dict[str, Any]) -> Any:
        chat, text, markup = p.get("chat_id"), p.get("text"), p.get("reply_markup")
        if chat in (None, ""):
            raise _ApiError(400, "Bad Request: chat_id is empty")
        if not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        if len(str(text)) > 4096:
            raise _ApiError(400, "Bad Request: message is too long")
        fault = self._take_fault(str(chat)) or {"kind": None}
        kind = fault["kind"]
        if kind == "429":
            n = fault.get("retry_after", 1)
            raise _ApiError(429, f"Too Many Requests: retry after {n}", {"retry_after": n})
        if kind in _ERRORS:
            raise _ApiError(int(kind), fault.get("description", _ERRORS[kind]))
        if kind == "migrate":
            new_id = {"migrate_to_chat_id": int(fault["new_chat_id"])}
            raise _ApiError(400, "Bad Request: group chat was upgraded to a supergroup chat", new_id)
        with self._lock:
            wait = self._flooded(str(chat))
            if wait is not None:
                raise _ApiError(429, f"Too Many Requests: retry after {wait}", {"retry_after": wait})
            message = self._message(chat, self.bot_user, text=str(text))
            if isinstance(markup, dict) and "inline_keyboard" in markup:  # only inline keyboards are echoed
                message["reply_markup"] = markup
            self._messages[(str(chat), message["message_id"])] = self._last_bot_message[str(chat)] = message
            record = {
                "chat_id": chat,
                "text": str(text),
                "reply_markup": markup,
                "parse_mode": p.get("parse_mode"),
            }
            self.sent.append(record | {"message_id": message["message_id"], "t": time.monotonic()})
        if kind == "timeout":
            await self._sleep(float(fault.get("delay", 3.0)))
        return message

    def _edit(self, p: dict[str, Any], **changes: Any) -> Any:
        if p.get("inline_message_id"):
            return True
        key = (str(p.get("chat_id")), int(p.get("message_id") or 0))
        with self._lock:
            message = self._messages.get(key)
            if message is None:
                raise _ApiError(400, "Bad Request: message to edit not found")
            new = {k: v for k, v in {**message, **changes}.items() if v is not None}
            if new == message:
                raise _ApiError(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup of the message",
                )
            message.clear()
            message.update(new, edit_date=int(time.time()))
            return json.loads(json.dumps(message))

    async def _m_senddocument(self, p: dict[str, Any]) -> Any:
        return self._file_message(p, "document")

    async def _m_sendphoto(self, p: dict[str, Any]) -> Any:
        return self._file_message(p, "photo")

    async def _m_sendvoice(self, p: dict[str, Any]) -> Any:
        return self._file_message(p, "voice")

    async def _m_sendvideo(self, p: dict[str, Any]) -> Any:
        return self._file_message(p, "video")

    def _file_message(self, p: dict[str, Any], kind: str) -> Any:
        """A file upload, or a file resent by its id: recorded in ``files_sent`` with its bytes or its
        ``file_id``, its caption in ``sent``."""
        chat, upload = p.get("chat_id"), p.get(kind)
        if isinstance(upload, str) and upload:
            if upload not in self.files and not upload.startswith(("photo-", "voice-", "video-")):
                raise _ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
            upload = {"file_id": upload, "filename": None, "content": self.files.get(upload)}
        if chat in (None, "") or not isinstance(upload, dict):
            raise _ApiError(400, f"Bad Request: there is no {kind} in the request")
        with self._lock:
            caption = str(p.get("caption") or "")
            message = self._message(chat, self.bot_user, caption=caption)
            file_id = f"{kind}-{message['message_id']}"
            message[kind] = (
                [{"file_id": file_id, "file_unique_id": f"u-{file_id}", "width": 1, "height": 1}]
                if kind == "photo"
                else {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_name": upload["filename"]}
                if kind == "document"
                else {"file_id": file_id, "file_unique_id": f"u-{file_id}", "duration": 1}
            )
            self.files_sent.append({"chat_id": chat, "kind": kind, **upload, "caption": caption})
            record = {"chat_id": chat, "text": caption, "reply_markup": None}
            self.sent.append(record | {"message_id": message["message_id"], "t": time.monotonic()})
        return message

    async def _m_editmessagetext(self, p: dict[str, Any]) -> Any:
        if not p.get("text"):
            raise _ApiError(400, "Bad Request: message text is empty")
        return self._edit(p, text=str(p["text"]), reply_markup=p.get("reply_markup"))

    async def _m_editmessagereplymarkup(self, p: dict[str, Any]) -> Any:
        return self._edit(p, reply_markup=p.get("reply_markup"))

    async def _m_answercallbackquery(self, p: dict[str, Any]) -> Any:
        if not p.get("callback_query_id"):
            raise _ApiError(400, "Bad Request: query_id is empty")
        return True

    async def _m_getfile(self, p: dict[str, Any]) -> Any:
        file_id = str(p.get("file_id") or "")
        if not file_id:
            raise _ApiError(400, "Bad Request: invalid file_id")
        path = f"photos/{file_id}.jpg"
        with self._lock:
            self._file_paths[path] = file_id
        size = len(self.files.get(file_id, b"")) or 120_000
        return {"file_id": file_id, "file_unique_id": f"u-{file_id}", "file_size": size, "file_path": path}

    async def _m_setwebhook(self, p: dict[str, Any]) -> Any:
        self.webhook_url = str(p.get("url") or "")
        if p.get("drop_pending_updates"):
            with self._lock:
                self._updates.clear()
        return True

    async def _m_deletewebhook(self, p: dict[str, Any]) -> Any:
        return await self._m_setwebhook({**p, "url": ""})

    async def _m_getwebhookinfo(self, p: dict[str, Any]) -> Any:
        with self._lock:
            pending = len(self._updates)
        return {"url": self.webhook_url, "has_custom_certificate": False, "pending_update_count": pending}

    @staticmethod
    def _commands_key(p: dict[str, Any]) -> str:
        """Commands are stored per (scope, language_code), like the real API."""
        return json.dumps(
            [p.get("scope") or {"type": "default"}, p.get("language_code") or ""], sort_keys=True
        )

    async def _m_setmycommands(self, p: dict[str, Any]) -> Any:
        self.commands[self._commands_key(p)] = list(p.get("commands") or [])
        return True

    async def _m_getmycommands(self, p: dict[str, Any]) -> Any:
        return self.commands.get(self._commands_key(p), [])

    async def _m_deletemycommands(self, p: dict[str, Any]) -> Any:
        self.commands.pop(self._commands_key(p), None)
        return True
