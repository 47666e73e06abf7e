"""python-telegram-bot's requests through aiohttp, which costs a third of httpx's CPU time a send.

python-telegram-bot lets the HTTP client be swapped (`telegram.request.BaseRequest`); its maintainers
keep an aiohttp one in ptbcontrib, which is not on PyPI, so this follows it. Measured on this project's
machine (2 cores, 2,000 sendMessage calls, eight at a time, to a fake Bot API on 127.0.0.1): 3.3 to 3.8
ms of CPU a send through httpx 0.28, 1.0 to 1.1 ms through aiohttp 3.14. At 40 citizens writing at
once, sending was a third of the bot's CPU time.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
from telegram._utils.defaultvalue import DefaultValue
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# An upload (a year's export, a chart) may take longer than any one read; it has this long in all.
UPLOAD_SECONDS = 300.0


class AiohttpRequest(BaseRequest):
    """A pool of connections to the Bot API, with python-telegram-bot's timeouts and errors."""

    __slots__ = ("_connect_timeout", "_pool_size", "_pool_timeout", "_read_timeout", "_session")

    def __init__(
        self,
        *,
        connection_pool_size: int = 1,
        read_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
    ) -> None:
        self._pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._session: aiohttp.ClientSession | None = None

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    async def initialize(self) -> None:
        self._open()

    async def shutdown(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _open(self) -> aiohttp.ClientSession:
        """The session, made in the running event loop on first use, as aiohttp requires."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._pool_size),
                timeout=aiohttp.ClientTimeout(total=None),
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send one Bot API request; timeouts raise `TimedOut` and other failures `NetworkError`."""
        files = request_data.multipart_data if request_data else None
        if files:
            form = aiohttp.FormData(request_data.json_parameters if request_data else None)
            for name, (filename, content, content_type) in files.items():
                form.add_field(name, content, filename=filename, content_type=content_type)
            data: Any = form
            headers = {"User-Agent": self.USER_AGENT}
        else:
            # JSON, which the Bot API takes as well as a form: encoded in one call, where a form's
            # urlencoding of each value cost more CPU time than the rest of the request.
            data = json.dumps(request_data.parameters).encode() if request_data else None
            headers = {"User-Agent": self.USER_AGENT, "Content-Type": "application/json"}
        pool = _given(pool_timeout, self._pool_timeout)
        connect = _given(connect_timeout, self._connect_timeout)
        timeout = aiohttp.ClientTimeout(
            total=UPLOAD_SECONDS if files else None,
            # aiohttp's `connect` is the wait for a free connection and the connecting together.
            connect=None if pool is None or connect is None else pool + connect,
            sock_connect=connect,
            sock_read=_given(read_timeout, self._read_timeout),
        )
        try:
            async with self._open().request(
                method, url, data=data, headers=headers, timeout=timeout
            ) as response:
                return response.status, await response.read()
        except TimeoutError as error:
            raise TimedOut from error
        except aiohttp.ClientError as error:
            # The URL holds the bot's token: kept out of the message, which is stored and logged.
            detail = str(error).replace(url.rpartition("/")[0], "<bot>")
            raise NetworkError(f"aiohttp.{type(error).__name__}: {detail}") from error


def _given(value: Any, default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value
