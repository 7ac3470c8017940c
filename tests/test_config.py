"""Loading, validating and writing the TOML configuration."""

from __future__ import annotations

import tomllib
from datetime import time
from pathlib import Path

import pytest

from assistant import config
from assistant.errors import ConfigError, InputError
from assistant.ladder import Ladder
from assistant.send_window import SendWindow

USER_FILE = """\
# My own notes about this file.
[user]
name = "Ada Lovelace"  # as on my invoices
business_name = "Analytical Ltd"
timezone = "Europe/London"
country = "GB"
nickname = "ada"

[send_window]
days = ["Mon", "Wed"]
start = "07:00"
end = "08:00"

[ladder.late_late]
max_sends = 2

[[payment.options]]
kind = "bank_transfer"
details = "Sort code 12-34-56"

[gmail]
# belongs to another part of the assistant
label = "Invoices"
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file_gives_defaults(tmp_path: Path) -> None:
    loaded = config.load_config(tmp_path / "absent.toml")
    assert set(loaded.sources.values()) == {config.DEFAULT}
    assert loaded.ladder == Ladder()
    assert loaded.send_window == SendWindow()
    assert loaded.user.timezone == "UTC"
    assert loaded.user.country is None
    assert loaded.keep_urgent_in_thread is False
    assert loaded.digest_enabled is True
    assert loaded.drafts_horizon_days == 7


def test_file_values_and_sources(tmp_path: Path) -> None:
    loaded = config.load_config(_write(tmp_path, USER_FILE))
    assert loaded.user.name == "Ada Lovelace"
    assert loaded.user.country == "GB"
    assert loaded.sources["user.name"] == config.FILE
    assert loaded.sources["user.language"] == config.DEFAULT
    assert loaded.send_window.days == frozenset({0, 2})
    assert loaded.send_window.start == time(7)
    assert loaded.ladder.stages[3].max_sends == 2
    assert loaded.payment_options == (
        config.PaymentOption("bank_transfer", "Bank transfer", "Sort code 12-34-56"),
    )
    assert loaded.user_defaults().timezone == "Europe/London"


def test_unknown_key_in_known_table_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config.load_config(_write(tmp_path, USER_FILE))
    assert "user.nickname" in caplog.text
    assert "gmail" not in caplog.text


@pytest.mark.parametrize(
    ("snippet", "key", "value"),
    [
        ('[user]\ntimezone = "Mars/Base"\n', "user.timezone", "Mars/Base"),
        ('[user]\ncountry = "XX"\n', "user.country", "XX"),
        ('[user]\nlanguage = "zz_QQ"\n', "user.language", "zz_QQ"),
        ('[user]\nemail = "nobody"\n', "user.email", "nobody"),
        ('[send_window]\ndays = ["Tues"]\n', "send_window.days", "Tues"),
        ('[send_window]\nstart = "5am"\n', "send_window.start", "5am"),
        ('[send_window]\nstart = "25:00"\n', "send_window.start", "25:00"),
        (
            '[ladder.gentle]\ndirection = "sideways"\n',
            "ladder.gentle.direction",
            "sideways",
        ),
        ('[ladder.gentle]\nenabled = "yes"\n', "ladder.gentle.enabled", "yes"),
        ("[drafts]\nhorizon_days = -1\n", "drafts.horizon_days", "-1"),
        ("[digest]\nenabled = 1\n", "digest.enabled", "1"),
        (
            '[[payment.options]]\nkind = "Bank Transfer"\ndetails = "x"\n',
            "payment.options[0]",
            "Bank Transfer",
        ),
        ('[[payment.options]]\nkind = "paypal"\n', "payment.options[0]", "paypal"),
        ('user = "Ada"\n', "user", "Ada"),
    ],
)
def test_invalid_value_names_key_value_and_file(
    tmp_path: Path, snippet: str, key: str, value: str
) -> None:
    path = _write(tmp_path, snippet)
    with pytest.raises(ConfigError) as raised:
        config.load_config(path)
    message = str(raised.value)
    assert key in message
    assert value in message
    assert str(path) in message


def test_window_end_before_start_rejected(tmp_path: Path) -> None:
    path = _write(tmp_path, '[send_window]\nstart = "06:00"\nend = "05:00"\n')
    with pytest.raises(ConfigError, match="send_window.*before its end"):
        config.load_config(path)


def test_invalid_toml_names_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[user\nname = 1\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        config.load_config(path)


def test_new_document_documents_every_setting() -> None:
    text = config.tomlkit.dumps(config.new_document({"user.name": "Ada"}))
    for setting in config.SETTINGS:
        assert f"# {setting.doc.split()[0]}" in text, setting.key
        if setting.key != "user.name":
            assert f"# {setting.name} = " in text, setting.key
    assert tomllib.loads(text)["user"] == {"name": "Ada"}
    assert config.parse_config_text(text, Path("x")).sources["user.name"] == config.FILE


def test_save_keeps_comments_and_unknown_keys(tmp_path: Path) -> None:
    path = _write(tmp_path, USER_FILE)
    config.save_answers(path, {"user.country": "DE", "user.language": "de"})
    text = path.read_text(encoding="utf-8")
    assert "# My own notes about this file." in text
    assert "# as on my invoices" in text
    assert "# belongs to another part of the assistant" in text
    assert 'nickname = "ada"' in text
    assert 'label = "Invoices"' in text
    data = tomllib.loads(text)
    assert data["user"]["country"] == "DE"
    assert data["user"]["language"] == "de"
    assert data["ladder"]["late_late"]["max_sends"] == 2
    assert data["payment"]["options"][0]["details"] == "Sort code 12-34-56"


def test_round_trip_unchanged_without_answers(tmp_path: Path) -> None:
    path = _write(tmp_path, USER_FILE)
    config.save_answers(path, {})
    assert path.read_text(encoding="utf-8") == USER_FILE


def test_invalid_answer_leaves_file_alone(tmp_path: Path) -> None:
    path = _write(tmp_path, USER_FILE)
    with pytest.raises(ConfigError, match="Mars/Base"):
        config.save_answers(path, {"user.timezone": "Mars/Base"})
    assert path.read_text(encoding="utf-8") == USER_FILE
    assert [p.name for p in tmp_path.iterdir()] == ["config.toml"]


def test_multiline_signature_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "new" / "config.toml"
    config.save_answers(path, {"user.signature": "Ada\nAnalytical Ltd"})
    assert config.load_config(path).user.signature == "Ada\nAnalytical Ltd"


def test_payment_options_replaced(tmp_path: Path) -> None:
    path = _write(tmp_path, USER_FILE)
    options = [config.parse_payment_flag("paypal=ada@example.com")]
    config.save_answers(path, {}, options)
    loaded = config.load_config(path)
    assert loaded.payment_options == (
        config.PaymentOption("paypal", "PayPal", "ada@example.com"),
    )
    assert "# My own notes about this file." in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("flag", ["paypal", "=details", "Card Link=x", "paypal="])
def test_invalid_payment_flag(flag: str) -> None:
    with pytest.raises(InputError, match="invalid payment option"):
        config.parse_payment_flag(flag)


def test_guess_timezone_from_env_and_files(tmp_path: Path) -> None:
    zoneinfo_dir = tmp_path / "usr" / "share" / "zoneinfo" / "Europe"
    zoneinfo_dir.mkdir(parents=True)
    (zoneinfo_dir / "Berlin").write_bytes(b"TZif")
    localtime = tmp_path / "localtime"
    localtime.symlink_to(zoneinfo_dir / "Berlin")
    timezone_file = tmp_path / "timezone"
    timezone_file.write_text("Asia/Tokyo\n")
    missing = tmp_path / "missing"

    assert config.guess_timezone(
        {"TZ": ":America/New_York"}, localtime, timezone_file
    ) == ("America/New_York")
    assert config.guess_timezone({}, localtime, timezone_file) == "Europe/Berlin"
    assert config.guess_timezone({}, missing, timezone_file) == "Asia/Tokyo"
    assert config.guess_timezone({"TZ": "Nowhere"}, missing, missing) == "UTC"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"LANG": "de_DE.UTF-8"}, ("de", "DE")),
        ({"LC_ALL": "ja_JP.UTF-8", "LANG": "en_US.UTF-8"}, ("ja", "JP")),
        ({"LANG": "C.UTF-8"}, ("en", "")),
        ({"LANG": "en"}, ("en", "")),
        ({}, ("en", "")),
    ],
)
def test_guess_locale(env: dict[str, str], expected: tuple[str, str]) -> None:
    assert config.guess_locale(env) == expected
