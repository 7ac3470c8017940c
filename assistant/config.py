"""The TOML configuration: defaults, loading, validation and writing.

``SETTINGS`` is the one list of every setting with its default and meaning;
``assistant config show`` prints it with the effective values, and new config
files carry the same text as comments. Files are read with ``tomllib`` and
written with ``tomlkit``, which keeps the user's comments, key order and any
keys this module does not know. A write goes to a temporary file that replaces
the old one only after the new text has been validated, so a failed write never
leaves a half-written or invalid config behind.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import textwrap
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import tomlkit
from babel import Locale, UnknownLocaleError
from tomlkit.items import Table

from assistant.business_days import validate_region
from assistant.errors import ConfigError, InputError
from assistant.ladder import DEFAULT_STAGES, CallRule, Ladder, StageRule, UserDefaults
from assistant.send_window import Direction, SendWindow, parse_weekdays

logger = logging.getLogger(__name__)

DEFAULT = "default"
FILE = "file"


# Value checks: each takes a raw TOML value and returns the value to use, or
# raises ValueError saying what is wrong with it.


def _boolean(raw: Any) -> bool:
    if not isinstance(raw, bool):
        raise ValueError("expected true or false")
    return raw


def any_text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("expected a string")
    return raw


def nonempty_text(raw: Any) -> str:
    if not any_text(raw).strip():
        raise ValueError("expected a non-empty string")
    return str(raw)


def _integer(low: int, high: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError("expected a whole number")
        if not low <= raw <= high:
            raise ValueError(f"expected a number from {low} to {high}")
        return raw

    return parse


def _email(raw: Any) -> str:
    text = nonempty_text(raw).strip()
    if "@" not in text[1:-1]:
        raise ValueError("expected an email address such as ada@example.com")
    return text


def valid_timezone(raw: Any) -> str:
    name = nonempty_text(raw).strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError("unknown time zone; use an IANA name such as Europe/Berlin") from exc
    return name


def valid_country(raw: Any) -> str:
    code = any_text(raw).strip().upper()
    if code:
        try:
            validate_region(code)
        except InputError as exc:
            raise ValueError(str(exc)) from exc
    return code


def valid_language(raw: Any) -> str:
    code = nonempty_text(raw).strip().replace("-", "_")
    try:
        Locale.parse(code)
    except (ValueError, UnknownLocaleError) as exc:
        raise ValueError("unknown language; use a code such as en, de or en_GB") from exc
    return code


def _clock_time(raw: Any) -> str:
    text = nonempty_text(raw).strip()
    if not re.fullmatch(r"\d{2}:\d{2}", text):
        raise ValueError('expected a time such as "05:00"')
    _to_time(text)
    return text


def _to_time(text: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"invalid time {text!r}; use HH:MM such as 05:00") from exc


def _weekdays(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not raw:
        raise ValueError('expected a list of weekdays such as ["Tue", "Wed"]')
    parse_weekdays([nonempty_text(day) for day in raw])
    return [str(day) for day in raw]


def _direction(raw: Any) -> str:
    text = nonempty_text(raw).strip()
    if text not in {d.value for d in Direction}:
        raise ValueError('expected "before" or "after"')
    return text


PAYMENT_LABELS = {
    "bank_transfer": "Bank transfer",
    "card_link": "Card payment link",
    "paypal": "PayPal",
}


def payment_label(kind: str) -> str:
    return PAYMENT_LABELS.get(kind, kind.replace("_", " ").capitalize())


def _payment_option(raw: Any) -> dict[str, str]:
    if not isinstance(raw, Mapping):
        raise ValueError("expected a table with kind and details")
    unknown = set(raw) - {"kind", "label", "details"}
    if unknown:
        raise ValueError(f"unknown keys {', '.join(sorted(unknown))}")
    kind = _payment_kind(raw.get("kind", ""))
    details = nonempty_text(raw.get("details", ""))
    label = nonempty_text(raw.get("label", payment_label(kind)))
    return {"kind": kind, "label": label, "details": details}


def _payment_kind(raw: Any) -> str:
    kind = any_text(raw).strip()
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kind):
        raise ValueError(
            "payment kind must be a lowercase word such as bank_transfer, "
            "card_link or paypal"
        )
    return kind


@dataclass(frozen=True)
class Setting:
    """One configuration key: its dotted name, default, meaning and validator."""

    key: str
    default: Any
    doc: str
    parse: Callable[[Any], Any]

    @property
    def section(self) -> str:
        return self.key.rsplit(".", 1)[0]

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[1]


STAGE_DOCS = {
    "receipt_check": "Asks whether the invoice arrived, some business days after "
    "sending, only while the client has not written in the thread since.",
    "gentle": "A friendly note shortly before the due date; moved earlier, never "
    "sent on or after the due date.",
    "early_late": "The first reminder after the due date, after a grace period.",
    "late_late": "Firm reminders with an URGENT subject, repeated a few times.",
}


def _stage_settings(rule: StageRule) -> list[Setting]:
    prefix = f"ladder.{rule.name}"
    settings = [
        Setting(f"{prefix}.enabled", rule.enabled, "Send this stage at all.", _boolean),
        Setting(f"{prefix}.template", rule.template, "Template name.", nonempty_text),
        Setting(
            f"{prefix}.offset_business_days",
            rule.offset_business_days,
            "Business days from the due date; negative is before it.",
            _integer(-60, 60),
        ),
        Setting(
            f"{prefix}.direction",
            str(rule.direction),
            '"before": never sent after its day; "after": never before it.',
            _direction,
        ),
        Setting(
            f"{prefix}.subject_prefix",
            rule.subject_prefix,
            "Text put before the subject, such as URGENT.",
            any_text,
        ),
        Setting(
            f"{prefix}.repeat_every_days",
            rule.repeat_every_days,
            "Days between repeats of this stage.",
            _integer(0, 90),
        ),
        Setting(
            f"{prefix}.max_sends",
            rule.max_sends,
            "Times this stage is sent at most.",
            _integer(1, 20),
        ),
    ]
    if rule.after_sending_business_days is not None:
        settings.insert(
            3,
            Setting(
                f"{prefix}.after_sending_business_days",
                rule.after_sending_business_days,
                "Business days after sending the invoice; the offset above is "
                "then the latest day.",
                _integer(1, 60),
            ),
        )
    return settings


SETTINGS: tuple[Setting, ...] = (
    Setting("user.name", "", "Your name, as clients know it.", any_text),
    Setting("user.business_name", "", "Your business name.", any_text),
    Setting("user.email", None, "Your Gmail address (optional).", _email),
    Setting(
        "user.timezone",
        "UTC",
        "IANA time zone, used when a client's zone is unknown.",
        valid_timezone,
    ),
    Setting(
        "user.country",
        "",
        'ISO country code for public holidays; "" for weekends only.',
        valid_country,
    ),
    Setting("user.language", "en", "Language of reminders, such as en or de.", valid_language),
    Setting(
        "user.signature",
        "",
        "Signature used when Gmail's own signature cannot be read.",
        any_text,
    ),
    Setting(
        "ladder.min_days_between_reminders",
        2,
        "Days at least between two reminders for one invoice.",
        _integer(0, 30),
    ),
    *[s for rule in DEFAULT_STAGES for s in _stage_settings(rule)],
    Setting("ladder.call_client.enabled", True, "Then ask you to call the client.", _boolean),
    Setting(
        "ladder.call_client.days_after_last_reminder",
        7,
        "Days after the last reminder before the call task is due.",
        _integer(0, 90),
    ),
    Setting(
        "send_window.days",
        ["Tue", "Wed", "Thu"],
        "Weekdays on which reminders go out.",
        _weekdays,
    ),
    Setting("send_window.start", "05:00", "Window start, client's wall clock.", _clock_time),
    Setting("send_window.end", "06:00", "Window end (exclusive).", _clock_time),
    Setting(
        "send_window.latest_catch_up",
        "09:00",
        "A window missed while the machine was off is caught up until this time "
        "the same day.",
        _clock_time,
    ),
    Setting(
        "send_window.avoid_minute_multiple",
        5,
        "The minute is never a multiple of this; 0 turns it off.",
        _integer(0, 30),
    ),
    Setting("send_window.jitter", True, "Pick a random minute in the window.", _boolean),
    Setting(
        "threading.keep_urgent_in_thread",
        False,
        "Send URGENT reminders in the invoice thread instead of a new one.",
        _boolean,
    ),
    Setting("digest.enabled", True, "Send yourself a daily digest.", _boolean),
    Setting(
        "digest.send_after",
        "07:00",
        "Earliest time of day (HH:MM, your time zone) for the daily digest.",
        _clock_time,
    ),
    Setting(
        "drafts.horizon_days",
        7,
        "Days ahead for which reminder drafts are prepared.",
        _integer(0, 60),
    ),
)

SETTINGS_BY_KEY = {setting.key: setting for setting in SETTINGS}
SECTIONS = ("user", "payment", "ladder", "send_window", "threading", "digest", "drafts")


@dataclass(frozen=True)
class PaymentOption:
    kind: str
    label: str
    details: str


@dataclass(frozen=True)
class UserSettings:
    name: str
    business_name: str
    email: str | None
    timezone: str
    country: str | None
    language: str
    signature: str


@dataclass(frozen=True)
class Config:
    """Effective settings; ``sources`` records for each key whether it is a default."""

    path: Path
    user: UserSettings
    payment_options: tuple[PaymentOption, ...]
    ladder: Ladder
    keep_urgent_in_thread: bool
    digest_enabled: bool
    drafts_horizon_days: int
    values: Mapping[str, Any]
    sources: Mapping[str, str]

    @property
    def send_window(self) -> SendWindow:
        return self.ladder.send_window

    def user_defaults(self) -> UserDefaults:
        return UserDefaults(self.user.timezone, self.user.country, self.user.language)


def _invalid(path: Path, key: str, value: Any, reason: str) -> ConfigError:
    return ConfigError(f"invalid {key} = {value!r} in {path}: {reason}")


def _lookup(data: Mapping[str, Any], key: str, path: Path) -> tuple[bool, Any]:
    node: Any = data
    parts = key.split(".")
    for depth, part in enumerate(parts):
        if not isinstance(node, Mapping):
            parent = ".".join(parts[:depth])
            raise _invalid(path, parent, node, "expected a table")
        if part not in node:
            return False, None
        node = node[part]
    return True, node


def _warn_unknown_keys(data: Mapping[str, Any], path: Path) -> None:
    # Unknown top-level tables may belong to other parts of the assistant; an
    # unknown key inside a known table is most likely a typo.
    known = set(SETTINGS_BY_KEY) | {"payment.options"}
    tables = {s.section for s in SETTINGS}
    for section in tables:
        found, table = _lookup(data, section, path)
        if not found or not isinstance(table, Mapping):
            continue
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in known and not (isinstance(value, Mapping) and key in tables):
                logger.warning("unknown setting %s in %s is ignored", key, path)


def effective_values(
    data: Mapping[str, Any], path: Path
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return each setting's validated value and its source, default or file."""
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for setting in SETTINGS:
        found, raw = _lookup(data, setting.key, path)
        if not found:
            values[setting.key] = setting.default
            sources[setting.key] = DEFAULT
            continue
        try:
            values[setting.key] = setting.parse(raw)
        except ValueError as exc:
            raise _invalid(path, setting.key, raw, str(exc)) from exc
        sources[setting.key] = FILE
    _warn_unknown_keys(data, path)
    return values, sources


def _payment_options(data: Mapping[str, Any], path: Path) -> tuple[PaymentOption, ...]:
    found, raw = _lookup(data, "payment.options", path)
    if not found:
        return ()
    if not isinstance(raw, list):
        raise _invalid(path, "payment.options", raw, "expected [[payment.options]] tables")
    options = []
    for index, entry in enumerate(raw):
        key = f"payment.options[{index}]"
        try:
            options.append(PaymentOption(**_payment_option(entry)))
        except ValueError as exc:
            raise _invalid(path, key, entry, str(exc)) from exc
    return tuple(options)


def _stage_rule(default: StageRule, values: Mapping[str, Any]) -> StageRule:
    prefix = f"ladder.{default.name}"
    after_sending = values.get(f"{prefix}.after_sending_business_days")
    return StageRule(
        name=default.name,
        template=values[f"{prefix}.template"],
        offset_business_days=values[f"{prefix}.offset_business_days"],
        direction=Direction(values[f"{prefix}.direction"]),
        enabled=values[f"{prefix}.enabled"],
        subject_prefix=values[f"{prefix}.subject_prefix"],
        after_sending_business_days=after_sending,
        repeat_every_days=values[f"{prefix}.repeat_every_days"],
        max_sends=values[f"{prefix}.max_sends"],
    )


def _send_window(values: Mapping[str, Any], path: Path) -> SendWindow:
    try:
        return SendWindow(
            days=parse_weekdays(values["send_window.days"]),
            start=_to_time(values["send_window.start"]),
            end=_to_time(values["send_window.end"]),
            latest_catch_up=_to_time(values["send_window.latest_catch_up"]),
            avoid_minute_multiple=values["send_window.avoid_minute_multiple"],
            jitter=values["send_window.jitter"],
        )
    except ValueError as exc:
        window = {k: v for k, v in values.items() if k.startswith("send_window.")}
        raise _invalid(path, "send_window", window, str(exc)) from exc


def build_config(data: Mapping[str, Any], path: Path) -> Config:
    """Validate parsed TOML data and build the effective configuration."""
    values, sources = effective_values(data, path)
    ladder = Ladder(
        stages=tuple(_stage_rule(rule, values) for rule in DEFAULT_STAGES),
        call_client=CallRule(
            enabled=values["ladder.call_client.enabled"],
            days_after_last_reminder=values["ladder.call_client.days_after_last_reminder"],
        ),
        min_days_between_reminders=values["ladder.min_days_between_reminders"],
        send_window=_send_window(values, path),
    )
    user = UserSettings(
        name=values["user.name"],
        business_name=values["user.business_name"],
        email=values["user.email"],
        timezone=values["user.timezone"],
        country=values["user.country"] or None,
        language=values["user.language"],
        signature=values["user.signature"],
    )
    return Config(
        path=path,
        user=user,
        payment_options=_payment_options(data, path),
        ladder=ladder,
        keep_urgent_in_thread=values["threading.keep_urgent_in_thread"],
        digest_enabled=values["digest.enabled"],
        drafts_horizon_days=values["drafts.horizon_days"],
        values=values,
        sources=sources,
    )


def parse_config_text(text: str, path: Path) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML in {path}: {exc}; fix the file or rerun "
                          "`assistant init`") from exc
    return build_config(data, path)


def load_config(path: Path) -> Config:
    """Load the config at ``path``; a missing file means every default applies."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return build_config({}, path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"failed to read config file {path}: {exc}") from exc
    return parse_config_text(text, path)


def _commented_default(setting: Setting) -> tomlkit.items.Comment:
    if setting.default is None:
        return tomlkit.comment(f"{setting.name} = ...")
    rendered = tomlkit.item(setting.default).as_string()
    return tomlkit.comment(f"{setting.name} = {rendered}")


def _item(value: Any) -> Any:
    if isinstance(value, str) and "\n" in value:
        return tomlkit.string(value, multiline=True)
    return value


def _add_comment(table: Table, text: str) -> None:
    for line in textwrap.wrap(text, width=78):
        table.add(tomlkit.comment(line))


def _new_table(section: str, answers: Mapping[str, Any]) -> Table:
    table = tomlkit.table()
    stage = section.split(".")[-1]
    if section.startswith("ladder.") and stage in STAGE_DOCS:
        _add_comment(table, STAGE_DOCS[stage])
    for setting in SETTINGS:
        if setting.section != section:
            continue
        _add_comment(table, setting.doc)
        if setting.key in answers:
            table.add(setting.name, _item(answers[setting.key]))
        else:
            table.add(_commented_default(setting))
    return table


def new_document(answers: Mapping[str, Any]) -> tomlkit.TOMLDocument:
    """Build a config file: every setting with its meaning, defaults commented out."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Configuration of the invoice reminder assistant."))
    doc.add(tomlkit.comment("Lines starting with # show a default; remove the # to change it."))
    for section in SECTIONS:
        if section == "payment":
            doc.add("payment", _payment_table())
            continue
        table = _new_table(section, answers)
        for sub in dict.fromkeys(s.section for s in SETTINGS):
            if sub.startswith(section + "."):
                table.add(sub.split(".", 1)[1], _new_table(sub, answers))
        doc.add(section, table)
    return doc


def _payment_table() -> Table:
    table = tomlkit.table()
    table.add(tomlkit.comment("How clients can pay; one [[payment.options]] table each:"))
    table.add(tomlkit.comment('kind = "bank_transfer", label = "Bank transfer", '
                              'details = "IBAN DE89 ..."'))
    return table


def set_values(doc: tomlkit.TOMLDocument, answers: Mapping[str, Any]) -> None:
    """Set dotted keys in ``doc``, creating tables as needed and keeping the rest."""
    for key, value in answers.items():
        *sections, name = key.split(".")
        node: Any = doc
        for section in sections:
            if section not in node:
                node[section] = tomlkit.table()
            node = node[section]
        node[name] = _item(value)


def set_payment_options(doc: tomlkit.TOMLDocument, options: list[PaymentOption]) -> None:
    if "payment" not in doc:
        doc["payment"] = _payment_table()
    aot = tomlkit.aot()
    for option in options:
        entry = tomlkit.table()
        entry.add("kind", option.kind)
        entry.add("label", option.label)
        entry.add("details", _item(option.details))
        aot.append(entry)
    doc["payment"]["options"] = aot  # type: ignore[index]


def read_document(path: Path) -> tomlkit.TOMLDocument | None:
    """Parse an existing config for editing, or return None when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"failed to read config file {path}: {exc}") from exc
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(
            f"invalid TOML in {path}: {exc}; fix or move the file, then rerun"
        ) from exc


def write_document(path: Path, doc: tomlkit.TOMLDocument) -> Config:
    """Validate ``doc`` and replace the file at ``path`` with it in one step."""
    text = tomlkit.dumps(doc)
    config = parse_config_text(text, path)

    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise ConfigError(f"failed to write config file {path}: {exc}") from exc
    logger.info("wrote config %s", path)
    return config


def save_answers(
    path: Path,
    answers: Mapping[str, Any],
    payment_options: list[PaymentOption] | None = None,
) -> Config:
    """Write ``answers`` into the config at ``path``, keeping everything else in it.

    A new file gets every setting with its meaning as comments. In an existing
    file only the answered keys change; comments, other settings and unknown
    keys stay. ``payment_options`` replaces the list when given.
    """
    doc = read_document(path)
    if doc is None:
        doc = new_document(answers)
    else:
        set_values(doc, answers)
    if payment_options is not None:
        set_payment_options(doc, payment_options)
    return write_document(path, doc)


def parse_payment_flag(text: str) -> PaymentOption:
    """Parse ``KIND=DETAILS``, such as ``paypal=ada@example.com``."""
    kind, separator, details = text.partition("=")
    try:
        if not separator:
            raise ValueError("expected KIND=DETAILS, such as paypal=ada@example.com")
        option = _payment_option({"kind": kind.strip(), "details": details.strip()})
    except ValueError as exc:
        raise InputError(f"invalid payment option {text!r}: {exc}") from exc
    return PaymentOption(**option)


def guess_timezone(
    env: Mapping[str, str] = os.environ,
    localtime: Path = Path("/etc/localtime"),
    timezone_file: Path = Path("/etc/timezone"),
) -> str:
    """Guess the machine's IANA time zone from TZ, /etc/localtime or /etc/timezone."""
    candidates = [env.get("TZ", "").lstrip(":")]
    try:
        target = str(localtime.resolve(strict=True))
        candidates.append(target.split("zoneinfo/", 1)[1] if "zoneinfo/" in target else "")
    except OSError:
        pass
    try:
        candidates.append(timezone_file.read_text(encoding="utf-8").strip())
    except OSError:
        pass
    for name in candidates:
        try:
            return valid_timezone(name)
        except ValueError:
            continue
    return "UTC"


def guess_locale(env: Mapping[str, str] = os.environ) -> tuple[str, str]:
    """Guess (language, country) from LC_ALL, LC_MESSAGES or LANG, such as de_DE.UTF-8."""
    for variable in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(variable, "").split(".")[0].split("@")[0]
        if not value or value in {"C", "POSIX"}:
            continue
        language, _, territory = value.partition("_")
        try:
            language = valid_language(language)
        except ValueError:
            continue
        try:
            country = valid_country(territory)
        except ValueError:
            country = ""
        return language, country
    return "en", ""
