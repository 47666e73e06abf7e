"""The report flow: what happened, where, when, how bad, who is at risk, then a code to follow it up."""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import make_transient_to_detached

from handlers import documents, floods, lexicon, locations, places, severity, story
from handlers.alerts import incidents
from handlers.alerts.wording import masked
from handlers.codes import new_code
from handlers.conversation import CANCEL, FINISH, STAY, Flow, Step, Turn, choices_of, value_of
from handlers.messages import Choice
from models.db import dialect_insert, per_dialect
from models.tables import ACKNOWLEDGED, Incident, Report

logger = logging.getLogger(__name__)

CATEGORIES = ("group_clash", "tawuran", "sara", "land", "hoax", "election", "radicalism", "other")
# The field's phrases for each option are in config/lexicon/id.toml and are matched by handlers/matching.
WHEN = ("now", "today", "yesterday", "days_ago", "planned")
PEOPLE = ("few", "group", "crowd", "mass", "unknown")
CONTACT = ("anonymous", "relay", "direct")
NONE_WORDS = lexicon.answers("none")
DONE_WORDS = lexicon.answers("done")
SKIP_WORDS = lexicon.answers("skip")

MAX_ANSWER = 200
MIN_DESCRIPTION = 10
MAX_DESCRIPTION = 2000
_ONLY_NUMBER = re.compile(r"^\s*\d+\s*[.)]?\s*$")
_PEOPLE_NUMBER = re.compile(r"(\d[\d.]*)")
_HAS_DIGIT = re.compile(r"\d")

# The order a report is asked in, and which steps /ubah can go back to.
EDITABLE = ("category", "place", "when", "what", "people", "danger", "vulnerable", "photo", "contact")


def _yes_no(turn: Turn) -> list[Choice]:
    return choices_of(turn, "yes", ("yes", "no"), "common.yes_no")


# 1. Category -----------------------------------------------------------------------------------------------


def ask_category(turn: Turn) -> None:
    """Asks what kind of tension or incident it is."""
    turn.say("report.category.ask", choices_of(turn, "cat", CATEGORIES, "category"))


def take_category(turn: Turn) -> str | None:
    """Stores the category and moves on to the place."""
    choice = turn.chosen(choices_of(turn, "cat", CATEGORIES, "category"))
    if choice is None:
        turn.hint("common.pick_option")
        return STAY
    turn.state["category"] = value_of(choice)
    return "place"


# 2. Place --------------------------------------------------------------------------------------------------


def ask_place(turn: Turn) -> None:
    """Asks where it happens, with an example of a good answer."""
    turn.say("report.place.ask")


def take_place(turn: Turn) -> str | None:
    """Resolves the place to a Kemendagri region, then asks to confirm or to choose."""
    if turn.inbound.location is not None:
        turn.state["latitude"], turn.state["longitude"] = turn.inbound.location
        shared = locations.place_at(*turn.inbound.location)
        if shared is None:  # outside Indonesia, or nowhere the gazetteer knows: ask for the name
            turn.hint("report.place.location_saved")
            return STAY
        turn.state["candidates"], turn.state["near"] = [[shared.code, shared.path]], True
        return "place_confirm"
    turn.state.pop("near", None)
    answer = turn.answer_text
    if not answer:
        turn.hint("common.need_text")
        return STAY
    if len(answer) > places.MAX_PLACE_TEXT:
        turn.hint("common.too_long", limit=places.MAX_PLACE_TEXT)
        return STAY
    if lexicon.is_never_a_place(answer):
        return _stay_with_hint(turn, "report.place.need_name")
    found = places.resolve(answer, turn.policy.home_region)
    if not found:
        turn.hint("report.place.not_found")
        return STAY
    turn.state["candidates"] = [[p.code, p.path] for p in found]
    return "place_confirm" if len(found) == 1 else "place_choose"


def ask_place_confirm(turn: Turn) -> None:
    """Reads the full place path back to the reporter."""
    _code, path = turn.state["candidates"][0]
    key = "report.place.confirm_near" if turn.state.get("near") else "report.place.confirm"
    turn.say(key, _yes_no(turn), path=path)


def _keep_place(turn: Turn, code: str, path: str) -> str:
    turn.state["region_code"], turn.state["place_path"] = code, path
    turn.state.pop("candidates", None)
    turn.state.pop("near", None)
    return "when"


def take_place_confirm(turn: Turn) -> str | None:
    """Keeps the place on yes; on no, asks again; a new place name is tried at once."""
    choice = turn.chosen(_yes_no(turn))
    if choice is not None:
        if value_of(choice) == "yes":
            return _keep_place(turn, *turn.state["candidates"][0])
        turn.hint("report.place.try_again")
        return "place"
    return take_place(turn) if turn.answer_text else _stay_with_hint(turn, "common.pick_option")


def _candidate_choices(turn: Turn) -> list[Choice]:
    candidates = [Choice(f"place:{i}", path) for i, (_code, path) in enumerate(turn.state["candidates"])]
    return [*candidates, Choice("place:none", turn.t("report.place.none_of_these"))]


def ask_place_choose(turn: Turn) -> None:
    """Lists the regions the text could mean."""
    turn.say("report.place.choose", _candidate_choices(turn))


def take_place_choose(turn: Turn) -> str | None:
    """Keeps the chosen region; "none of these" or a new name starts the place question over."""
    choice = turn.chosen(_candidate_choices(turn))
    if choice is not None:
        if choice.key == "place:none":
            turn.hint("report.place.more_detail")  # the same name again would give the same list
            return "place"
        return _keep_place(turn, *turn.state["candidates"][int(value_of(choice))])
    if turn.answer_text and not _ONLY_NUMBER.match(turn.answer_text):
        return take_place(turn)
    return _stay_with_hint(turn, "common.pick_option")


def _stay_with_hint(turn: Turn, key: str, **values: object) -> None:
    turn.hint(key, **values)
    return STAY


# 3. When ---------------------------------------------------------------------------------------------------


def ask_when(turn: Turn) -> None:
    """Asks when it happened, with common answers and room for the reporter's own words."""
    turn.say("report.when.ask", choices_of(turn, "when", WHEN, "when"))


def take_when(turn: Turn) -> str | None:
    """Stores when it happened: a picked option, or a short free answer such as 'tadi malam jam 9'."""
    timed = bool(_HAS_DIGIT.search(turn.answer_text)) and not _ONLY_NUMBER.match(turn.answer_text)
    choice = None if timed else turn.chosen(choices_of(turn, "when", WHEN, "when"))  # "jam 9" says more
    if choice is not None:
        # The option's label is the bot's words: kept for the summary, never scanned for danger words.
        turn.state["occurred"], turn.state["occurred_own"] = choice.label, False
        turn.state.pop("when_assumed", None)
        return "what"
    answer = turn.answer_text
    if not answer or _ONLY_NUMBER.match(answer):
        return _stay_with_hint(turn, "common.pick_option_or_write")
    if len(answer) > MAX_ANSWER:
        answer = answer[:MAX_ANSWER].rsplit(" ", 1)[0]
        turn.hint("common.shortened", limit=MAX_ANSWER)
    turn.state["occurred"], turn.state["occurred_own"] = answer, True
    turn.state.pop("when_assumed", None)
    return "what"


# 4. What happened ------------------------------------------------------------------------------------------


def ask_what(turn: Turn) -> None:
    """Asks what happened, in the reporter's own words."""
    turn.say("report.what.ask")


def take_what(turn: Turn) -> str | None:
    """Stores the description, if it is long enough to act on and short enough to read; a voice note or
    a video alone is a whole answer, a photo is kept and the words still asked."""
    kept = keep_media(turn)
    if kept is False:
        return STAY
    answer = turn.answer_text
    if kept and not answer:
        if spoken(turn):
            turn.state["description"] = turn.t(f"report.media.told_by_{turn.inbound.media.kind}")  # type: ignore[union-attr]
            return "people"
        return _stay_with_hint(turn, "report.media.photo_needs_words")
    if not answer:
        return _stay_with_hint(turn, "common.need_text")
    if len(answer) < MIN_DESCRIPTION:
        return _stay_with_hint(turn, "report.what.too_short")
    if len(answer) > MAX_DESCRIPTION:
        # A long story is worth keeping: its start is stored, and the reporter is told, not made to retype.
        answer = answer[:MAX_DESCRIPTION].rsplit(" ", 1)[0]
        turn.hint("common.shortened", limit=MAX_DESCRIPTION)
    turn.state["description"] = answer
    return "people"


# 5. How many people ----------------------------------------------------------------------------------------


def ask_people(turn: Turn) -> None:
    """Asks roughly how many people are involved."""
    turn.say("report.people.ask", choices_of(turn, "people", PEOPLE, "people"))


def people_bucket(count: int) -> str:
    """The size band of a head count."""
    return "few" if count <= 10 else "group" if count <= 50 else "crowd" if count <= 200 else "mass"


def take_people(turn: Turn) -> str | None:
    """Stores the size band; 'sekitar 30 orang' is understood as a number, not as option 30."""
    options = choices_of(turn, "people", PEOPLE, "people")
    choice = turn.chosen(options)
    if choice is not None:
        turn.state["people"] = value_of(choice)
        return "danger"
    number = _PEOPLE_NUMBER.search(lexicon.plain(turn.answer_text))  # "kira2" is not a 2
    # "sekitar 30 orang", or a bare number too big to be an option: a head count.
    if number and (not _ONLY_NUMBER.match(turn.answer_text) or int(number.group(1)) > len(options)):
        turn.state["people"] = people_bucket(int(number.group(1).replace(".", "")))
        return "danger"
    counted = lexicon.number_in_words(lexicon.plain(turn.answer_text))  # "dua puluh orang"
    if counted is not None:
        turn.state["people"] = people_bucket(counted)
        return "danger"
    return _stay_with_hint(turn, "common.pick_option")


# 6 and 7. Danger signs and vulnerable groups: pick several -------------------------------------------------


def _multi_options(turn: Turn, name: str, keys: tuple[str, ...], marked: bool) -> list[Choice]:
    selected = turn.state.get(name, [])
    options = [
        Choice(f"{name}:{key}", ("✓ " if marked and key in selected else "") + turn.t(f"{name}.{key}"))
        for key in keys
    ]
    options.append(Choice(f"{name}:_none", turn.t("common.none")))
    if marked and selected:
        options.append(Choice(f"{name}:_done", turn.t("common.done")))
    return options


def _multi_step(name: str, keys: tuple[str, ...], next_step: str) -> tuple:
    """Ask and take functions for a question where several answers may apply."""

    def ask(turn: Turn) -> None:
        turn.say(f"report.{name}.ask", _multi_options(turn, name, keys, marked=True))

    def take(turn: Turn) -> str | None:
        options = _multi_options(turn, name, keys, marked=False)
        words = {f"{name}:_none": NONE_WORDS, f"{name}:_done": DONE_WORDS}
        done = Choice(f"{name}:_done", turn.t("common.done"))
        picked = turn.chosen_many([*options, done], words)
        if not picked and (named := story.mentioned(turn.answer_text, name, keys)):
            turn.state[name] = named  # "lempar batu, ada yg luka": the signs it names, in any words
            return next_step
        if not picked:
            return _stay_with_hint(turn, "common.pick_several")
        values = [value_of(c) for c in picked]
        if "_none" in values:
            turn.state[name] = []
            return next_step
        if "_done" in values:
            return next_step
        if turn.inbound.choice is not None:
            # A button toggles one option and shows the list again, so several can be tapped.
            selected = list(turn.state.get(name, []))
            value = values[0]
            turn.state[name] = (
                [v for v in selected if v != value] if value in selected else [*selected, value]
            )
            return name
        turn.state[name] = [v for v in values if v in keys]
        return next_step

    ask.__doc__ = f"Asks which {name} signs apply; several may."
    take.__doc__ = f"Stores the {name} answers."
    return ask, take


ask_danger, take_danger = _multi_step("danger", severity.DANGER_SIGNS, "vulnerable")
ask_vulnerable, take_vulnerable = _multi_step("vulnerable", severity.VULNERABLE_GROUPS, "photo")


# 8. Photo --------------------------------------------------------------------------------------------------


def _skip(turn: Turn) -> list[Choice]:
    return [Choice("photo:skip", turn.t("report.photo.skip"))]


def ask_photo(turn: Turn) -> None:
    """Offers to take a photo, which may be skipped."""
    turn.say("report.photo.ask", _skip(turn))


def keep_media(turn: Turn) -> bool | None:
    """Keep the photo, voice note or video of this message for the report; None when it carries none,
    False when it could not be kept (the person is told why and may send it again or go on)."""
    media = turn.inbound.media
    if media is None:
        return None
    if media.problem or media.path is None:
        key = "report.media.too_large" if media.problem == "too_large" else "report.media.unavailable"
        turn.hint(key)
        return False
    document = documents.keep_received(
        turn.session,
        media,
        conversation_id=turn.conversation.id,
        now=turn.now,
        keep_days=turn.policy.retention_days,
    )
    # New lists, never appended in place: the stored JSON would not see the change.
    turn.state["media"] = [*turn.state.get("media", []), document.id]
    turn.state["media_kinds"] = [*turn.state.get("media_kinds", []), media.kind]
    if not turn.state.get("photo"):
        turn.state["photo"] = f"document:{document.id}"
    return True


def _attachments(turn: Turn) -> str:
    """'pesan suara, foto', or yes/no for a photo reference from before media were kept as documents."""
    kinds = turn.state.get("media_kinds") or []
    if kinds:
        return ", ".join(turn.t(f"alert.media_kind.{kind}") for kind in kinds)
    return turn.t("common.yes" if turn.state.get("photo") else "common.no")


def spoken(turn: Turn) -> bool:
    """A voice note or a video: a whole answer to "what happened" without a word typed."""
    return turn.inbound.media is not None and turn.inbound.media.kind in ("voice", "video")


def take_media_elsewhere(turn: Turn) -> bool:
    """A photo, voice note or video sent at any other question is kept for the report, and said so;
    True when there is nothing else to answer with, so the question is asked again."""
    if turn.inbound.media is None or turn.conversation.step in ("what", "photo"):
        return False
    if keep_media(turn):
        turn.hint("report.media.kept")
    return not turn.answer_text


def start_with_media(turn: Turn) -> None:
    """A photo, voice note or video outside any report starts one; a voice note is its story."""
    if spoken(turn):
        told = turn.t(f"report.media.told_by_{turn.inbound.media.kind}")  # type: ignore[union-attr]
        start_from_story(turn, {"description": told, "story": True})
        return
    turn.conversation.flow = FLOW.name
    turn.state = {}
    if keep_media(turn):
        turn.hint("report.media.kept")
    turn.conversation.step = FLOW.first
    FLOW.step(FLOW.first).ask(turn)


def take_photo(turn: Turn) -> str | None:
    """Keeps the photo, voice note or video in MEDIA_DIR for the alert to carry, or passes the question."""
    kept = keep_media(turn)
    if kept is not None:
        return "contact" if kept else STAY
    if turn.chosen(_skip(turn), {"photo:skip": SKIP_WORDS}) is not None or _mentions_skip(turn.answer_text):
        turn.state["photo"] = None
        return "contact"
    return _stay_with_hint(turn, "report.photo.hint")


def _mentions_skip(text: str) -> bool:
    """'ada tapi nanti', 'no pics': a text at the photo question that puts the photo off, in any words."""
    words = set(lexicon.flat(lexicon.plain(text)).split()) | set(
        lexicon.flat(lexicon.plain(text, "en")).split()
    )
    return any(len(p.split()) == 1 and p in words for p in map(lexicon.flat, SKIP_WORDS))


# 9. Anonymous or may be contacted --------------------------------------------------------------------------


def ask_contact(turn: Turn) -> None:
    """Asks whether the reporter stays anonymous and whether officers may reach them."""
    turn.say("report.contact.ask", choices_of(turn, "contact", CONTACT, "contact"))


def take_contact(turn: Turn) -> str | None:
    """Stores the reporter's wish about being contacted."""
    choice = turn.chosen(choices_of(turn, "contact", CONTACT, "contact"))
    if choice is None:
        return _stay_with_hint(turn, "common.pick_option")
    turn.state["contact"] = value_of(choice)
    turn.state.pop("contact_assumed", None)
    return "summary"


# 10. Summary, fix one answer, send -------------------------------------------------------------------------


def _summary_choices(turn: Turn) -> list[Choice]:
    return choices_of(turn, "summary", ("send", "fix", "cancel"), "report.summary")


def summary_text(turn: Turn) -> str:
    """The whole report as the reporter will confirm it."""
    s = turn.state
    listed = {
        name: ", ".join(turn.t(f"{name}.{v}") for v in s.get(name, [])) or turn.t("common.none")
        for name in ("danger", "vulnerable")
    }
    return "\n".join(
        [
            turn.t("report.summary.title"),
            turn.t("report.summary.category", value=turn.t(f"category.{s['category']}")),
            turn.t("report.summary.place", value=s["place_path"]),
            turn.t("report.summary.when", value=s["occurred"]),
            turn.t("report.summary.what", value=s["description"]),
            turn.t("report.summary.people", value=turn.t(f"people.{s['people']}")),
            turn.t("report.summary.danger", value=listed["danger"]),
            turn.t("report.summary.vulnerable", value=listed["vulnerable"]),
            turn.t("report.summary.photo", value=_attachments(turn)),
            turn.t("report.summary.contact", value=turn.t(f"contact.{s['contact']}")),
            "",
            turn.t("report.summary.question"),
        ]
    )


def ask_summary(turn: Turn) -> None:
    """Shows the whole report and asks to send it, fix an answer, or cancel."""
    turn.send(summary_text(turn), _summary_choices(turn))


def take_summary(turn: Turn) -> str | None:
    """Sends the report, or goes to fixing one answer."""
    choice = turn.chosen(_summary_choices(turn), {"summary:send": ("kirim", "ya", "benar", "ok", "oke")})
    if choice is None:
        return _stay_with_hint(turn, "common.pick_option")
    action = value_of(choice)
    if action == "send":
        return STAY if too_many_reports(turn) else FINISH
    if action == "cancel":
        return CANCEL
    return "fix"


def _fix_choices(turn: Turn) -> list[Choice]:
    return choices_of(turn, "fix", EDITABLE, "report.fix")


def ask_fix(turn: Turn) -> None:
    """Asks which answer to change."""
    turn.say("report.fix.ask", _fix_choices(turn))


def take_fix(turn: Turn) -> str | None:
    """Goes back to the chosen question; after it, the summary is shown again."""
    choice = turn.chosen(_fix_choices(turn))
    if choice is None:
        return _stay_with_hint(turn, "common.pick_option")
    turn.state["fixing"] = value_of(choice)
    return value_of(choice)


# A whole story in one message ------------------------------------------------------------------------------

# What a story must still give when it does not say it; the rest can be added from the summary.
STORY_ASKS = ("category", "place", "when", "contact")
_ANSWERED = {"category": "category", "place": "region_code", "when": "occurred", "contact": "contact"}


def _answered(state: dict[str, Any], step: str) -> bool:
    """Given by the reporter; a time or contact wish assumed to send an urgent alert early is not."""
    return _ANSWERED[step] in state and not state.get(f"{step}_assumed")


def _assess(state: dict[str, Any]) -> severity.Severity:
    return severity.assess(
        danger_signs=state.get("danger", []),
        vulnerable_groups=state.get("vulnerable", []),
        people=state.get("people", "unknown"),
        description=state.get("description", ""),
        occurred=state["occurred"] if state.get("occurred_own", True) and "occurred" in state else "",
    )


def skip_answered(state: dict[str, Any], wanted: str) -> str:
    """In a report told as a story, pass over what it already said: ask what must be known, then sum up.

    When the kind and the place are known and the story is Siaga or Awas, the alert is offered first.
    """
    if wanted == "place" and state.get("place_given") and not state.get("fixing"):
        return "when"  # a pioneer's report from a Rawan check-in: their own region
    if wanted == "photo" and state.get("photo") and not state.get("fixing"):
        return "contact"  # a photo, voice note or video came with the story or an earlier answer
    if not state.get("story") or (wanted not in EDITABLE and wanted != "summary"):
        return wanted
    if (
        "sent_as" not in state
        and not state.get("urgent_asked")
        and _answered(state, "category")
        and _answered(state, "place")
        and _assess(state).level in severity.URGENT
    ):
        return "urgent"
    for step in STORY_ASKS:  # from the first: a story may name the place but not the kind
        if not _answered(state, step):
            return step
    return "added" if "sent_as" in state else "summary"


def _urgent_choices(turn: Turn) -> list[Choice]:
    return choices_of(turn, "urgent", ("now", "later"), "report.story.urgent_choice")


def ask_urgent(turn: Turn) -> None:
    """Offers to alert the officers now, before the remaining questions."""
    turn.say("report.story.urgent", _urgent_choices(turn), level=turn.t(f"level.{_assess(turn.state).level}"))


def take_urgent(turn: Turn) -> str | None:
    """Sends the alert at once, with the rest to follow as an update; or goes on with the questions."""
    choice = turn.chosen(_urgent_choices(turn))
    if choice is None:
        return _stay_with_hint(turn, "common.pick_option")
    if value_of(choice) == "later":
        turn.state["urgent_asked"] = True
        return "category"
    if too_many_reports(turn):
        return STAY
    state = turn.state
    if "occurred" not in state:
        state["occurred"], state["occurred_own"], state["when_assumed"] = (
            turn.t("report.story.when_unknown"),
            False,
            True,
        )
    if "contact" not in state:
        state["contact"], state["contact_assumed"] = "anonymous", True  # the safest until they say otherwise
    state["sent_as"] = finish_report(turn).code
    return "category"


def ask_added(turn: Turn) -> None:
    """Adds the answers given after an early alert to the report, tells its recipients, and ends the flow."""
    state = turn.state
    report = turn.session.scalar(select(Report).where(Report.code == state["sent_as"]))
    if report is not None:
        if not state.get("when_assumed") and report.occurred != state["occurred"]:
            report.occurred = state["occurred"]
            incidents.add_details(
                turn.session,
                report,
                turn.t("report.summary.when", value=state["occurred"]),
                now=turn.now,
                policy=turn.policy,
            )
        if not state.get("contact_assumed"):
            report.anonymous, report.may_contact = (
                state["contact"] != "direct",
                state["contact"] != "anonymous",
            )
    turn.say("report.story.added", code=state["sent_as"])
    turn.conversation.flow = turn.conversation.step = None
    turn.state = {}


def take_added(turn: Turn) -> str | None:
    """Never asked: the flow ends when the additions are stored."""
    return STAY


def start_from_story(turn: Turn, story: dict[str, object]) -> None:
    """Begins a report with everything the story says, says back what was understood, asks what is missing."""
    state: dict[str, object] = {"people": "unknown", "danger": [], "vulnerable": [], "photo": None, **story}
    when = state.pop("when", None)
    if when is not None:
        state["occurred"], state["occurred_own"] = turn.t(f"when.{when}"), False
    understood = (
        [turn.t("report.summary.category", value=turn.t(f"category.{state['category']}"))]
        if "category" in state
        else []
    )
    if state.get("danger"):
        signs = ", ".join(turn.t(f"danger.{d}") for d in state["danger"])  # type: ignore[attr-defined]
        understood.append(turn.t("report.summary.danger", value=signs))
    if "occurred" in state:
        understood.append(turn.t("report.summary.when", value=state["occurred"]))
    if state.get("people") != "unknown":
        understood.append(turn.t("report.summary.people", value=turn.t(f"people.{state['people']}")))
    if state.get("vulnerable"):
        groups = ", ".join(turn.t(f"vulnerable.{v}") for v in state["vulnerable"])  # type: ignore[attr-defined]
        understood.append(turn.t("report.summary.vulnerable", value=groups))
    turn.conversation.flow = FLOW.name
    turn.state = state
    kept = keep_media(turn)  # a photo with its story as the caption, or a voice note that is the story
    if understood:
        turn.hint("report.story.understood", items="\n".join(understood))
    elif kept is not False:
        turn.hint("report.story.taken")
    first = "place_confirm" if "candidates" in state else skip_answered(state, "category")
    if first == "place" and "category" not in state:
        first = "category"
    turn.conversation.step = first
    FLOW.step(first).ask(turn)


# A new report, unless its code is taken: then nothing is written and no row comes back, and another code
# is drawn. Without a savepoint, which would write the page's other turns first (see handlers/engine.py);
# in Core, as the ORM's INSERT ... RETURNING of an object cost more than the rest of the report.
_NEW_REPORT = per_dialect(
    lambda insert: (
        insert(Report).on_conflict_do_nothing(index_elements=["code"]).returning(*Report.__table__.columns)
    )
)


def create_report(turn: Turn, incident: Incident | None = None) -> Report:
    """Writes the report, with its level and a code no other report has, in the turn's transaction.

    `incident`: the open one it joins, found beforehand, so the report is written linked to it.
    """
    s = turn.state
    assessed = severity.assess(
        danger_signs=s.get("danger", []),
        vulnerable_groups=s.get("vulnerable", []),
        people=s["people"],
        description=s["description"],
        occurred=s["occurred"] if s.get("occurred_own", True) else "",
    )
    values = {
        "conversation_id": turn.conversation.id,
        "incident_id": incident.id if incident is not None else None,
        "category": s["category"],
        "region_code": s["region_code"],
        "latitude": s.get("latitude"),
        "longitude": s.get("longitude"),
        "occurred": s["occurred"],
        "description": s["description"],
        "masked_description": masked(s["description"]),
        "people": s["people"],
        "danger_signs": list(s.get("danger", [])),
        "vulnerable_groups": list(s.get("vulnerable", [])),
        "photo_ref": s.get("photo"),
        "media": list(s.get("media", [])),
        "anonymous": s["contact"] != "direct",
        "may_contact": s["contact"] != "anonymous",
        "level": assessed.level,
        "level_reasons": list(assessed.reasons),
        "created_at": turn.now,
        "status_changed_at": turn.now,
    }
    statement = _NEW_REPORT[dialect_insert(turn.session)]
    for _attempt in range(10):
        row = turn.session.connection().execute(statement, {**values, "code": new_code()}).first()
        if row is not None:
            report = Report(**row._mapping)
            make_transient_to_detached(report)  # the row as written, without reading it again
            turn.session.add(report)
            logger.info("report %s created, level %s", report.code, report.level)
            return report
    raise RuntimeError("could not draw a free report code in 10 tries")


def too_many_reports(turn: Turn) -> bool:
    """Over SENDER_REPORTS_PER_HOUR a report waits, its draft kept, and the reporter is told why."""
    limit = turn.policy.sender_reports_per_hour
    if limit <= 0 or floods.reports_last_hour(turn.session, turn.conversation.id, turn.now) < limit:
        return False
    logger.warning("a sender reached %d reports an hour; the next one waits", limit)
    turn.hint("limits.reports", count=limit)
    return True


def finish_report(turn: Turn) -> Report:
    """Saves the report and gives the reporter its code and what happens next."""
    joining = incidents.open_incident_for(
        turn.session, turn.state["region_code"], turn.state["category"], now=turn.now
    )
    report = create_report(turn, joining)
    incident = incidents.on_new_report(turn.session, report, joining, now=turn.now, policy=turn.policy)
    # Say it was passed on only if someone got it.
    alerted = incidents.alerted_count(turn.session, incident) > 0
    turn.say("report.done" if alerted else "report.done_unrouted", code=report.code)
    if report.status == ACKNOWLEDGED:
        turn.say("report_update.acknowledged", code=report.code)
    return report


FLOW = Flow(
    name="report",
    first="category",
    finish=finish_report,
    summary="summary",
    editable=EDITABLE,
    skip=skip_answered,
    steps={
        step.name: step
        for step in (
            Step("category", ask_category, take_category, "report.category.help"),
            Step("place", ask_place, take_place, "report.place.help"),
            Step("place_confirm", ask_place_confirm, take_place_confirm, "report.place.help"),
            Step("place_choose", ask_place_choose, take_place_choose, "report.place.help"),
            Step("when", ask_when, take_when, "report.when.help"),
            Step("what", ask_what, take_what, "report.what.help"),
            Step("people", ask_people, take_people, "report.people.help"),
            Step("danger", ask_danger, take_danger, "report.danger.help"),
            Step("vulnerable", ask_vulnerable, take_vulnerable, "report.vulnerable.help"),
            Step("photo", ask_photo, take_photo, "report.photo.help"),
            Step("contact", ask_contact, take_contact, "report.contact.help"),
            Step("summary", ask_summary, take_summary, "report.summary.help"),
            Step("fix", ask_fix, take_fix, "report.fix.help"),
            Step("urgent", ask_urgent, take_urgent, "report.story.urgent_help"),
            Step("added", ask_added, take_added, "report.story.urgent_help"),
        )
    },
)
