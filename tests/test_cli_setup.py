"""``assistant init`` and ``assistant config show`` through click's CliRunner."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import assistant.cli.setup_commands as setup_commands  # registers the commands
from assistant.cli import cli
from assistant.errors import InputError, UsageError

FLAGS = [
    "--name",
    "Ada Lovelace",
    "--business-name",
    "Analytical Ltd",
    "--timezone",
    "Europe/Berlin",
    "--country",
    "de",
    "--language",
    "de",
    "--payment",
    "bank_transfer=IBAN DE89 3704 0044 0532 0130 00",
    "--payment",
    "paypal=ada@example.com",
    "--signature",
    "Ada Lovelace\\nAnalytical Ltd",
]


def _run(path: Path, args: list[str], input: str | None = None) -> Result:
    runner = CliRunner()
    return runner.invoke(
        cli, ["--config", str(path), *args], input=input, env={"LANG": "C", "TZ": "UTC"}
    )


def _data(path: Path) -> dict:
    return tomllib.loads(path.read_text(encoding="utf-8"))


def test_init_with_flags(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    result = _run(path, ["init", "--yes", *FLAGS])
    assert result.exit_code == 0, result.output
    user = _data(path)["user"]
    assert user["name"] == "Ada Lovelace"
    assert user["timezone"] == "Europe/Berlin"
    assert user["country"] == "DE"
    assert user["signature"] == "Ada Lovelace\nAnalytical Ltd"
    kinds = [o["kind"] for o in _data(path)["payment"]["options"]]
    assert kinds == ["bank_transfer", "paypal"]
    assert "# IANA time zone" in path.read_text(encoding="utf-8")


def test_init_with_prompts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(setup_commands, "stdin_is_interactive", lambda: True)
    path = tmp_path / "config.toml"
    answers = (
        "\n".join(
            [
                "Grace Hopper",  # name
                "",  # business name: defaults to the name
                "Mars/Base",  # invalid time zone, asked again
                "America/New_York",
                "US",
                "",  # language: default en
                "",  # signature: default
                "paypal",
                "grace@example.com",
                "",  # no more payment options
            ]
        )
        + "\n"
    )
    result = _run(path, ["init"], input=answers)
    assert result.exit_code == 0, result.output
    assert "Mars/Base" in result.output
    user = _data(path)["user"]
    assert user["name"] == "Grace Hopper"
    assert user["business_name"] == "Grace Hopper"
    assert user["timezone"] == "America/New_York"
    assert user["country"] == "US"
    assert user["language"] == "en"
    assert user["signature"] == "Grace Hopper\nGrace Hopper"
    assert _data(path)["payment"]["options"][0]["details"] == "grace@example.com"


def test_rerun_keeps_everything(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(setup_commands, "stdin_is_interactive", lambda: True)
    path = tmp_path / "config.toml"
    assert _run(path, ["init", "--yes", *FLAGS]).exit_code == 0
    text = path.read_text(encoding="utf-8")
    text = "# my own note\n" + text + '\n[gmail]\nlabel = "Invoices"\n'
    text = text.replace("# max_sends = 3", "max_sends = 2  # two is enough")
    path.write_text(text, encoding="utf-8")

    # Interactive rerun: Enter everywhere keeps the current values.
    result = _run(path, ["init"], input="\n" * 7 + "y\n")
    assert result.exit_code == 0, result.output
    assert "[Ada Lovelace]" in result.output
    assert "[Europe/Berlin]" in result.output
    assert path.read_text(encoding="utf-8") == text

    # Scripted rerun changing one value.
    result = _run(path, ["init", "--yes", "--country", "AT"])
    assert result.exit_code == 0, result.output
    after = path.read_text(encoding="utf-8")
    assert "# my own note" in after
    assert "max_sends = 2  # two is enough" in after
    data = _data(path)
    assert data["user"]["country"] == "AT"
    assert data["user"]["name"] == "Ada Lovelace"
    assert data["gmail"] == {"label": "Invoices"}
    assert len(data["payment"]["options"]) == 2


def test_non_interactive_unknown_timezone_fails(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    result = _run(path, ["init", "--yes", "--name", "Ada", "--timezone", "Mars/Base"])
    assert isinstance(result.exception, InputError)
    assert "Mars/Base" in str(result.exception)
    assert not path.exists()


def test_non_interactive_requires_name(tmp_path: Path) -> None:
    result = _run(tmp_path / "config.toml", ["init", "--yes"])
    assert isinstance(result.exception, UsageError)
    assert "--name" in str(result.exception)


def test_non_interactive_guesses_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    result = CliRunner().invoke(
        cli,
        ["--config", str(path), "init", "--yes", "--name", "Ada"],
        env={"LANG": "ja_JP.UTF-8", "TZ": "Asia/Tokyo"},
    )
    assert result.exit_code == 0, result.output
    user = _data(path)["user"]
    assert user["timezone"] == "Asia/Tokyo"
    assert user["country"] == "JP"
    assert user["language"] == "ja"


@pytest.mark.parametrize("flag", ["paypal", "Bad Kind=x"])
def test_invalid_payment_flag(tmp_path: Path, flag: str) -> None:
    path = tmp_path / "config.toml"
    result = _run(path, ["init", "--yes", "--name", "Ada", "--payment", flag])
    assert isinstance(result.exception, InputError)
    assert not path.exists()


def test_config_show_sources(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert _run(path, ["init", "--yes", *FLAGS]).exit_code == 0
    result = _run(path, ["config", "show"])
    assert result.exit_code == 0, result.output
    lines = {line.split(" = ")[0].strip(): line for line in result.output.splitlines()}
    assert '"Europe/Berlin"  # file' in lines["user.timezone"]
    assert '["Tue", "Wed", "Thu"]  # default' in lines["send_window.days"]
    assert "# file" in lines["payment.options"]


def test_config_show_json_without_file(tmp_path: Path) -> None:
    result = _run(tmp_path / "absent.toml", ["config", "show", "--json"])
    assert result.exit_code == 0, result.output
    settings = json.loads(result.stdout)["settings"]
    assert settings["send_window.start"] == {"value": "05:00", "source": "default"}
    assert settings["ladder.late_late.subject_prefix"]["value"] == "URGENT"
    assert settings["payment.options"] == {"value": [], "source": "default"}


def test_init_without_terminal_is_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    result = _run(path, ["init"])
    assert isinstance(result.exception, UsageError)
    assert result.exception.exit_code == 2
    assert "needs a terminal" in str(result.exception)
    assert "--yes" in str(result.exception)
    assert "Your name" not in result.output
    assert not path.exists()


def test_non_interactive_reports_defaults(tmp_path: Path) -> None:
    result = _run(tmp_path / "config.toml", ["init", "--yes", "--name", "X"])
    assert result.exit_code == 0, result.output
    assert "Not given, so kept or guessed" in result.stderr
    assert "  --timezone UTC" in result.stderr
    assert "  --country (none)" in result.stderr
    assert "  --language en" in result.stderr
    assert "--name" not in result.stderr
