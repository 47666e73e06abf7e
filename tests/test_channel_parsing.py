"""How each channel turns a provider's payload into the one inbound message the engine understands."""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from fakes.telegram_api import FakeTelegram
from fakes.twilio_api import inbound_params, sms_params

from bot.channels import sms
from bot.channels.base import numbered
from bot.channels.telegram import parse_update, update_from_json
from bot.channels.whatsapp import parse_form, split_body
from handlers.messages import Inbound, Media, acceptable, cleaned_text


def _photo(file_id: str) -> Media:
    """The largest of the sizes the fake sends (1280 x 960), as a reference to fetch."""
    return Media("photo", "image/jpeg", source=file_id, size=1280 * 960 // 10)


def _caption(media: Media) -> dict[str, object]:
    return {"media": media, "text": "ini"}


def _twilio(kind: str, content_type: str) -> Media:
    return Media(kind, content_type, source=MEDIA)


# Never started: only its builders are used, which make updates exactly as the fake server serves them.
TG = FakeTelegram()
USER = 42


def case(name: str, *values: Any) -> Any:
    """One row of a table, named for what it shows."""
    return pytest.param(*values, id=name)


def _without(data: dict[str, Any], *path: str) -> dict[str, Any]:
    """The update with one nested key removed; path e.g. ("callback_query", "data")."""
    inner = data
    for key in path[:-1]:
        inner = inner[key]
    del inner[path[-1]]
    return data


def _with(data: dict[str, Any], field: str, key: str | None = None, value: Any = None) -> dict[str, Any]:
    """The update with one field of its message (or a key inside it) set to `value`."""
    if key is None:
        data["message"][field] = value
    else:
        data["message"][field][key] = value
    return data


def _inline_button_press() -> dict[str, Any]:
    """A button under an inline-mode message: Telegram sends no message, only who pressed."""
    update = _without(TG.callback_update(USER, "yes:yes"), "callback_query", "message")
    update["callback_query"]["inline_message_id"] = "inline-1"
    return update


def _button_without_data() -> dict[str, Any]:
    return _without(TG.callback_update(USER, "x"), "callback_query", "data")


def _edited() -> dict[str, Any]:
    message = TG.text_update(USER, "ralat: di pasar")["message"]
    return {"update_id": 900, "edited_message": {**message, "edit_date": message["date"] + 5}}


def _blocked_bot() -> dict[str, Any]:
    member = {"chat": TG.chat(USER), "from": TG.user(USER), "date": 1_700_000_000}
    member["old_chat_member"] = {"status": "member", "user": TG.bot_user}
    member["new_chat_member"] = {"status": "kicked", "user": TG.bot_user, "until_date": 0}
    return {"update_id": 901, "my_chat_member": member}


@pytest.mark.parametrize(
    ("data", "expected", "kind"),
    [
        case("private text", TG.text_update(USER, "ada tawuran"), {"text": "ada tawuran"}, "text"),
        case("command", TG.text_update(USER, "/status LPR-7K3QX"), {"text": "/status LPR-7K3QX"}, "text"),
        case("button press", TG.callback_update(USER, "cat:tawuran"), {"choice": "cat:tawuran"}, "choice"),
        case("button without a message: the user", _inline_button_press(), {"choice": "yes:yes"}, "choice"),
        case("location", TG.location_update(USER, -8.17, 113.7), {"location": (-8.17, 113.7)}, "location"),
        case(
            "photo, caption",
            TG.photo_update(USER, "P1", "ini"),
            {"media": _photo("P1"), "text": "ini"},
            "photo",
        ),
        case("photo, largest size", TG.photo_update(USER, "P2"), {"media": _photo("P2")}, "photo"),
        case(
            "voice note",
            TG.voice_update(USER, "V1", b"OggS"),
            {"media": Media("voice", "audio/ogg", source="V1", size=4)},
            "voice",
        ),
        case("sticker", TG.sticker_update(USER), {}, "other"),
        case("group chat", TG.text_update(-4001, "/lapor"), None, None),
        case("supergroup", TG.text_update(-1001234567890, "halo"), None, None),
        case("edited message", _edited(), None, None),
        case("bot blocked (my_chat_member)", _blocked_bot(), None, None),
        case("button, no data", _button_without_data(), None, None),
    ],
)
def test_telegram_update_becomes_inbound(
    data: dict[str, Any], expected: dict | None, kind: str | None
) -> None:
    parsed = parse_update(data)
    if expected is None:
        assert parsed is None
        return
    assert parsed == Inbound("telegram", str(USER), str(data["update_id"]), **expected)
    assert parsed.kind == kind


@pytest.mark.parametrize(
    "body",
    [
        case("a list", []),
        case("a string", "update"),
        case("null", None),
        case("a number", 7),
        case("empty object", {}),
        case("no update_id", {"message": TG.text_update(USER, "halo")["message"]}),
    ],
)
def test_malformed_webhook_body_is_not_an_update(body: Any) -> None:
    assert update_from_json(body) is None


@pytest.mark.parametrize(
    "body",
    [
        case("message is not an object", {"update_id": 5, "message": "halo"}),
        case("chat is not an object", {"update_id": 5, "message": {"chat": 42, "text": "halo"}}),
        case("chat id is text", {"update_id": 5, "message": {"chat": {"id": "42", "type": "private"}}}),
        case("button press is a list", {"update_id": 5, "callback_query": []}),
        case("presser is text", {"update_id": 5, "callback_query": {"from": "me", "data": "x"}}),
        case("location of words", _with(TG.location_update(USER, -8.17, 113.7), "location", "latitude", "x")),
        case("photo sizes not a list", _with(TG.photo_update(USER, "P1"), "photo", value={"file_id": "P1"})),
        case("file id a number", _with(TG.voice_update(USER, "V1", b"OggS"), "voice", "file_id", 7)),
    ],
)
def test_an_update_telegram_never_sends_is_refused(body: dict[str, Any]) -> None:
    """Read from the JSON itself, a field of the wrong kind is refused, never taken for something else."""
    with pytest.raises(ValueError):
        parse_update(body)


def test_webhook_body_becomes_an_update() -> None:
    update = update_from_json(TG.text_update(USER, "halo", update_id=777))
    assert update is not None
    assert parse_update(update) == Inbound("telegram", str(USER), "777", text="halo")


# -- WhatsApp (Twilio) -------------------------------------------------------------------------------------

PHONE = "+6281234567890"
US = "+14155550100"
MEDIA = "https://api.twilio.com/2010-04-01/Accounts/AC0/Messages/MM1/Media/ME1"


def _form(body: str = "halo", sender: str = PHONE, **kw: Any) -> dict[str, str]:
    return inbound_params(sender, body, message_sid="SM1", **kw)


def _media(content_type: str, body: str = "") -> dict[str, str]:
    return _form(body, media_url=MEDIA, media_type=content_type)


def _drop(form: dict[str, str], *keys: str) -> dict[str, str]:
    return {k: v for k, v in form.items() if k not in keys}


@pytest.mark.parametrize(
    ("form", "expected", "kind"),
    [
        case("plain text", _form(), {"text": "halo"}, "text"),
        case("local number made E.164", _form(sender="081234567890"), {"text": "halo"}, "text"),
        case("number without plus", _form(sender="6281234567890"), {"text": "halo"}, "text"),
        case("foreign number", _form(sender=US), {"address": US, "text": "halo"}, "text"),
        case(
            "image with caption",
            _media("image/jpeg", "ini"),
            {"text": "ini", "media": Media("photo", "image/jpeg", source=MEDIA)},
            "photo",
        ),
        case(
            "image, no caption",
            _media("image/png"),
            {"media": Media("photo", "image/png", source=MEDIA)},
            "photo",
        ),
        case(
            "voice note", _media("audio/ogg"), {"media": Media("voice", "audio/ogg", source=MEDIA)}, "voice"
        ),
        case("video", _media("video/mp4"), {"media": Media("video", "video/mp4", source=MEDIA)}, "video"),
        case("a PDF: not passed on", _media("application/pdf"), {"text": ""}, "other"),
        case("location", _form("", latitude=-8.2, longitude=113.7), {"location": (-8.2, 113.7)}, "location"),
        case("bad coordinates", _form() | {"Latitude": "utara", "Longitude": "x"}, {"text": "halo"}, "text"),
        case("button", _form("Ya") | {"ButtonPayload": "yes:yes"}, {"choice": "yes:yes"}, "choice"),
        case("garbage NumMedia", _form(media_url=MEDIA) | {"NumMedia": "banyak"}, {"text": "halo"}, "text"),
        case("empty NumMedia", _form() | {"NumMedia": ""}, {"text": "halo"}, "text"),
        case("only SmsMessageSid", _drop(_form(), "MessageSid"), {"text": "halo"}, "text"),
        case("no message sid", _drop(_form(), "MessageSid", "SmsMessageSid"), None, None),
        case("SMS, not WhatsApp", _form() | {"From": PHONE}, None, None),
        case("empty sender", _form() | {"From": "whatsapp:"}, None, None),
        case("no sender", _drop(_form(), "From"), None, None),
        case("foreign number without plus", _form(sender="whatsapp:14155550100"), None, None),
    ],
)
def test_twilio_form_becomes_inbound(form: dict[str, str], expected: dict | None, kind: str | None) -> None:
    parsed = parse_form(form)
    if expected is None:
        assert parsed is None
        return
    fields = dict(expected)
    assert parsed == Inbound("whatsapp", fields.pop("address", PHONE), "SM1", **fields)
    assert parsed.kind == kind


@pytest.mark.parametrize(
    ("body", "limit", "parts"),
    [
        case("empty", "", 10, [""]),
        case("short", "halo", 10, ["halo"]),
        case("exactly the limit", "a" * 10, 10, ["a" * 10]),
        case("cut at a line break", "aaaa\nbbbb\ncccc", 9, ["aaaa\nbbbb", "cccc"]),
        case("lines kept together while they fit", "aaaa\nbbbb\ncccc", 14, ["aaaa\nbbbb\ncccc"]),
        case("one long line cut hard", "x" * 25, 10, ["x" * 10, "x" * 10, "x" * 5]),
        case("long line between short ones", "ab\n" + "x" * 12 + "\ncd", 10, ["ab", "x" * 10, "xx\ncd"]),
    ],
)
def test_split_body(body: str, limit: int, parts: list[str]) -> None:
    assert split_body(body, limit) == parts
    assert all(len(part) <= limit for part in parts)


def test_split_body_keeps_twilio_limit_by_default() -> None:
    body = "\n".join(f"{i}. " + "kata " * 30 for i in range(40))
    parts = split_body(body)
    assert len(parts) > 1
    assert all(len(part) <= 1600 for part in parts)
    assert "\n".join(parts) == body


@pytest.mark.parametrize(
    ("text", "choices", "expected"),
    [
        case("no options", "Apa jenisnya?", (), "Apa jenisnya?"),
        case("one option", "Benar?", (("yes:yes", "Ya, benar"),), "Benar?\n\n1. Ya, benar"),
        case("in order", "Kapan?", (("w:now", "Kini"), ("w:today", "Tadi")), "Kapan?\n\n1. Kini\n2. Tadi"),
    ],
)
def test_numbered(text: str, choices: tuple[tuple[str, str], ...], expected: str) -> None:
    assert numbered(text, choices) == expected


@pytest.mark.parametrize(
    ("sender", "address"),
    [
        case("international", "+6281234567890", "+6281234567890"),
        case("local form", "081234567890", "+6281234567890"),
        case("foreign", "+14155550100", "+14155550100"),
        case("a WhatsApp address is not SMS", "whatsapp:+6281234567890", None),
        case("empty", "", None),
        case("letters", "PROMO", None),
    ],
)
def test_an_sms_becomes_inbound_from_a_phone_number(sender: str, address: str | None) -> None:
    form = sms_params(sender, "lapor", message_sid="SM" + "1" * 32)
    parsed = sms.parse_form(form)
    expected = Inbound("sms", address, "SM" + "1" * 32, text="lapor") if address else None
    assert parsed == expected


def test_a_message_loses_exactly_the_characters_no_database_stores_alike() -> None:
    # Unicode's control characters (Cc) and surrogates (Cs), checked over every code point, since the
    # engine looks them up as one character class; line breaks and tabs stay in a text.
    refused = "".join(c for c in map(chr, range(0x110000)) if unicodedata.category(c) in ("Cc", "Cs"))
    assert len(refused) == 65 + 2048
    text = "Ada\r\n bentrok\tdi\x00 pasar" + refused + "é🔥"
    kept = "Ada\n bentrok\tdi pasar\t\né🔥"  # of all the refused, the tab and the line break
    assert cleaned_text(text) == kept
    assert acceptable(Inbound("telegram", "12345", "m1", text=text)).text == kept  # type: ignore[union-attr]
    for character in refused:
        assert acceptable(Inbound("telegram", "12345" + character, "m1")) is None
        assert acceptable(Inbound("telegram", "12345", "m1" + character)) is None
