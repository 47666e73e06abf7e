"""A fake Twilio REST API (Messages) server that the real twilio client can talk to over HTTP."""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import time
import uuid
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from twilio.request_validator import RequestValidator

from .telegram_api import FakeHttpServer

logger = logging.getLogger(__name__)

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
DEFAULT_AUTH_TOKEN = "fake-auth-token"
SANDBOX_NUMBER = "whatsapp:+14155238886"
# The number SMS go out from in the tests (a Twilio test number).
SMS_NUMBER = "+15005550006"
_ADDRESS = re.compile(r"^(whatsapp:)?\+[1-9]\d{6,14}$")
_ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "Internal Server Error",
    20503: "Service Unavailable",
}


def _sid(prefix: str) -> str:
    """Twilio SIDs are a two-letter prefix plus 32 hex digits."""
    return prefix + uuid.uuid4().hex


def _error(status: int, code: int, message: str | None = None) -> JSONResponse:
    """Twilio's legacy JSON error shape, which the client turns into TwilioRestException."""
    body = {
        "code": code,
        "message": message or _ERROR_MESSAGES.get(code, "Error"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return JSONResponse(body, status_code=status)


def sign_twilio_request(auth_token: str, url: str, params: dict[str, Any]) -> str:
    """X-Twilio-Signature for a webhook POST, computed exactly like Twilio (HMAC-SHA1 of URL + params)."""
    return RequestValidator(auth_token).compute_signature(url, params)


def _whatsapp(number: str) -> str:
    return number if number.startswith("whatsapp:") else f"whatsapp:{number}"


def inbound_params(
    from_number: str,
    body: str,
    *,
    message_sid: str | None = None,
    media_url: str | None = None,
    media_type: str = "image/jpeg",
    latitude: float | None = None,
    longitude: float | None = None,
    to: str = SANDBOX_NUMBER,
    account_sid: str = DEFAULT_ACCOUNT_SID,
    profile_name: str = "Test User",
    messaging_service_sid: str | None = None,
) -> dict[str, str]:
    """Form fields Twilio POSTs to a WhatsApp incoming-message webhook (all values are strings)."""
    sender = _whatsapp(from_number)
    sid = message_sid or _sid("MM" if media_url else "SM")
    if latitude is not None and longitude is not None:
        message_type = "location"
    elif media_url:
        kind = media_type.split("/")[0]
        message_type = kind if kind in ("image", "video", "audio") else "document"
    else:
        message_type = "text"
    params = {
        "SmsMessageSid": sid,
        "NumMedia": "1" if media_url else "0",
        "ProfileName": profile_name,
        "MessageType": message_type,
        "SmsSid": sid,
        "WaId": sender.removeprefix("whatsapp:+"),
        "SmsStatus": "received",
        "Body": body,
        "To": _whatsapp(to),
        "NumSegments": "1",
        "ReferralNumMedia": "0",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": sender,
        "ApiVersion": "2010-04-01",
    }
    if messaging_service_sid:
        params["MessagingServiceSid"] = messaging_service_sid
    if media_url:
        params.update(MediaContentType0=media_type, MediaUrl0=media_url)
    if message_type == "location":
        params.update(Latitude=str(latitude), Longitude=str(longitude))
    return params


def sms_params(
    from_number: str,
    body: str,
    *,
    message_sid: str | None = None,
    to: str = SMS_NUMBER,
    account_sid: str = DEFAULT_ACCOUNT_SID,
) -> dict[str, str]:
    """Form fields Twilio POSTs to an incoming-SMS webhook (all values are strings)."""
    sid = message_sid or _sid("SM")
    return {
        "ToCountry": "US",
        "ToState": "CA",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "ToCity": "",
        "FromZip": "",
        "SmsSid": sid,
        "FromState": "",
        "SmsStatus": "received",
        "FromCity": "",
        "Body": body,
        "FromCountry": "ID",
        "To": to,
        "ToZip": "",
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account_sid,
        "From": from_number,
        "ApiVersion": "2010-04-01",
    }


def status_params(
    message_sid: str,
    status: str,
    error_code: int | str | None = None,
    *,
    to: str = "whatsapp:+6281234567890",
    from_: str = SANDBOX_NUMBER,
    account_sid: str = DEFAULT_ACCOUNT_SID,
) -> dict[str, str]:
    """Form fields of a StatusCallback POST (queued/sent/delivered/read/failed/undelivered)."""
    params = {
        "MessageSid": message_sid,
        "SmsSid": message_sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": to,
        "From": from_,
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
    }
    if to.startswith("whatsapp:"):
        params["ChannelPrefix"] = "whatsapp"
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


class FakeTwilio(FakeHttpServer):
    """Speaks Twilio's Messages REST API over HTTP, records sends and can inject real failures.

    Point the real client at it with ``client.api.base_url = fake.base_url``. Fault kinds
    (``fail_next`` per ``To`` address, ``fail_all_next`` for any): "429", "500", "503", "400"
    (kw code=21211, message; add permanent=True for e.g. 63016 on every send) and "timeout"
    (kw delay=3.0; the message IS recorded, as Twilio would still send it).
    """

    name = "fake-twilio"
    fault_kinds = frozenset({"429", "500", "503", "timeout", "slow", "400"})

    def __init__(self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = DEFAULT_AUTH_TOKEN) -> None:
        prefix = "/2010-04-01/Accounts/{account_sid}/Messages"
        routes = [
            Route(prefix + ".json", self._create, methods=["POST"]),
            Route(prefix + "/{message_sid}.json", self._fetch, methods=["GET"]),
            Route(prefix + "/{message_sid}/Media/{media_sid}", self._media, methods=["GET"]),
        ]
        super().__init__(routes)
        self.account_sid, self.auth_token = account_sid, auth_token
        self.sent: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self._messages: dict[str, dict[str, Any]] = {}

    @property
    def base_url(self) -> str:
        """Value for ``client.api.base_url`` (replaces https://api.twilio.com)."""
        return f"http://127.0.0.1:{self.port}"

    def messages_to(self, to: str) -> list[str]:
        """Bodies successfully sent to one address (e.g. "whatsapp:+62...")."""
        with self._lock:
            return [s["body"] for s in self.sent if s["to"] == to]

    def get_message(self, message_sid: str) -> dict[str, Any] | None:
        """The Message resource JSON returned for a SID, or None."""
        with self._lock:
            return self._messages.get(message_sid)

    def status_params(
        self, message_sid: str, status: str, error_code: int | str | None = None
    ) -> dict[str, str]:
        """Status callback fields for a message this fake sent, with its real To/From."""
        msg = self.get_message(message_sid) or {}
        to, from_ = msg.get("to") or "whatsapp:+6281234567890", msg.get("from") or SANDBOX_NUMBER
        return status_params(
            message_sid, status, error_code, to=to, from_=from_, account_sid=self.account_sid
        )

    def add_media(self, content: bytes, content_type: str = "image/jpeg") -> str:
        """Serves bytes at a Twilio-style media URL (basic auth required, like real media) and returns it."""
        message_sid, media_sid = _sid("MM"), _sid("ME")
        with self._lock:
            self.media[media_sid] = (content, content_type)
        return (
            f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages/{message_sid}/Media/{media_sid}"
        )

    # -- HTTP layer --------------------------------------------------------------------------------
    def _authorized(self, request: Request) -> bool:
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return (
            request.headers.get("authorization") == f"Basic {expected}"
            and request.path_params["account_sid"] == self.account_sid
        )

    async def _create(self, request: Request) -> Response:
        pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        form = dict(pairs)
        entry: dict[str, Any] = {"method": "POST", "params": form, "status": None, "t": time.monotonic()}
        with self._lock:
            self.requests.append(entry)
        response = await self._create_message(request, form, [v for k, v in pairs if k == "MediaUrl"])
        entry["status"] = response.status_code
        return response

    async def _create_message(
        self, request: Request, form: dict[str, str], media_urls: list[str]
    ) -> Response:
        if not self._authorized(request):
            return _error(401, 20003)
        to, sender, body = form.get("To", ""), form.get("From", ""), form.get("Body", "")
        service = form.get("MessagingServiceSid")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not sender and not service:
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body and not form.get("ContentSid") and not media_urls:
            return _error(400, 21602, "Message body is required.")
        if not _ADDRESS.match(to):
            return _error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if sender and to.startswith("whatsapp:") != sender.startswith("whatsapp:"):
            return _error(400, 21910, "Invalid From and To pair. From and To should be of the same channel")
        if len(body) > 1600:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        fault = self._take_fault(to)
        kind = fault["kind"] if fault else None
        if kind == "429":
            return _error(429, 20429)
        if kind in ("500", "503"):
            return _error(int(kind), 20000 + int(kind))
        if kind == "400":
            return _error(400, int(fault.get("code", 21211)), fault.get("message"))
        message = self._record(form, media_urls)
        if kind in ("timeout", "slow"):
            # "slow": the message exists (and Twilio may report on it) before the answer arrives.
            await self._sleep(float(fault.get("delay", 3.0)))
        return JSONResponse(message, status_code=201)

    def _record(self, form: dict[str, str], media_urls: list[str]) -> dict[str, Any]:
        sid, now = _sid("MM" if media_urls else "SM"), formatdate(usegmt=False)
        body = form.get("Body", "")
        uri = f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}"
        message = {
            "account_sid": self.account_sid,
            "api_version": "2010-04-01",
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": form.get("From") or None,
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "num_media": str(len(media_urls)),
            "num_segments": str(max(1, math.ceil(len(body) / 153)) if len(body) > 160 else 1),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued" if form.get("From") else "accepted",
            "to": form["To"],
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "uri": f"{uri}.json",
        }
        variables = form.get("ContentVariables")
        with self._lock:
            self._messages[sid] = message
            self.sent.append(
                {
                    "to": form["To"],
                    "from_": form.get("From"),
                    "body": body,
                    "content_sid": form.get("ContentSid"),
                    "content_variables": json.loads(variables) if variables else None,
                    "status_callback": form.get("StatusCallback"),
                    "media_url": media_urls,
                    "messaging_service_sid": form.get("MessagingServiceSid"),
                    "sid": sid,
                    "t": time.monotonic(),
                }
            )
        return message

    async def _fetch(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, 20003)
        message = self.get_message(request.path_params["message_sid"])
        if message is None:
            return _error(404, 20404)
        return JSONResponse(message)

    async def _media(self, request: Request) -> Response:
        if not self._authorized(request):
            return _error(401, 20003)
        with self._lock:
            found = self.media.get(request.path_params["media_sid"])
        if found is None:
            return _error(404, 20404)
        return Response(found[0], media_type=found[1])
