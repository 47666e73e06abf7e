"""Webhook bodies read within a size limit, before anything parses them."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

# Telegram's largest update (a 4,096-character message with its entities and a keyboard) is far below this.
TELEGRAM_MAX_BYTES = 256 * 1024
# Twilio's form: a 1,600-character body, ten media URLs and their types, the sender's profile.
TWILIO_MAX_BYTES = 64 * 1024
# More fields than Twilio ever sends means the form is not Twilio's.
TWILIO_MAX_FIELDS = 200


class TooLarge(Exception):
    """The body is over its limit; it was not read past the limit."""


class Malformed(Exception):
    """The body is not what the provider sends."""


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, refusing a declared or actual size over `limit` without reading the rest."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise TooLarge
        except ValueError as error:
            raise Malformed from error
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def json_object(body: bytes) -> dict[str, Any]:
    """A JSON object; Malformed for anything else, a body nested too deep for the parser included."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as error:
        raise Malformed from error
    if not isinstance(data, dict):
        raise Malformed
    return data


def twilio_params(body: bytes) -> dict[str, str]:
    """Twilio's url-encoded form as a dict, parsed by the standard library with a cap on its fields."""
    try:
        pairs = parse_qsl(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            max_num_fields=TWILIO_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise Malformed from error
    return dict(pairs)
