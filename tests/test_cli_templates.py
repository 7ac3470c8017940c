"""``assistant templates check`` on the shipped templates and on a user's folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import assistant.cli.template_commands  # noqa: F401  (registers the command)
from assistant.cli import cli, main

SHIPPED_NAMES = {
    f"{stage}.{language}.txt.j2"
    for stage in ("receipt_check", "gentle", "early_late", "late_late")
    for language in ("en", "ja")
}

# Breaks the subject, greeting, attachment and sign-off rules at once.
BAD_TEMPLATE = """\
Subject: A note about the money that your company still owes us from last month

To whom it may concern,

Please pay the invoices below as soon as you can. We rely on prompt payment from \
all of our clients to keep our small business running, and late payments cause \
real difficulties for us and for our own suppliers, so we would be grateful if \
you could look into this.

{% for invoice in invoices %}
- {{ invoice.number }}: {{ invoice.balance_text }}, due {{ invoice.due_date_text }}
{% endfor %}

{% for option in payment_options %}
- {{ option.label }}: {{ option.details | indent(2) }}
{% endfor %}

{{ signature }}
"""


def run_check(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["templates", "check", *args])
    return result.exit_code, result.stdout


def test_check_passes_on_shipped_set(tmp_path: Path) -> None:
    exit_code, output = run_check("--dir", str(tmp_path), "--json")

    reports = json.loads(output)
    assert exit_code == 0
    assert {report["template"] for report in reports} == SHIPPED_NAMES
    assert all(report["passed"] for report in reports)


def test_check_table_lists_every_template(tmp_path: Path) -> None:
    exit_code, output = run_check("--dir", str(tmp_path))

    assert exit_code == 0
    for name in SHIPPED_NAMES:
        assert name in output


def test_failing_user_template_exits_one(tmp_path: Path) -> None:
    (tmp_path / "gentle.en.txt.j2").write_text(BAD_TEMPLATE, encoding="utf-8")

    exit_code, output = run_check("--dir", str(tmp_path), "--json")

    reports = {report["template"]: report for report in json.loads(output)}
    gentle = reports["gentle.en.txt.j2"]
    assert exit_code == 1
    assert gentle["path"] == str(tmp_path / "gentle.en.txt.j2")
    assert [failure["rule"] for failure in gentle["failures"]] == [
        "subject",
        "greeting",
        "attachment",
        "sign_off",
    ]
    assert reports["gentle.ja.txt.j2"]["passed"]


def test_failing_template_shows_rule_in_table(tmp_path: Path) -> None:
    (tmp_path / "gentle.en.txt.j2").write_text(BAD_TEMPLATE, encoding="utf-8")

    exit_code, output = run_check("--dir", str(tmp_path))

    assert exit_code == 1
    assert "greeting" in output
    assert "sign_off" in output


def test_missing_dir_is_usage_error(tmp_path: Path) -> None:
    exit_code, _ = run_check("--dir", str(tmp_path / "absent"))

    assert exit_code == 2


def test_main_maps_failure_to_exit_one(tmp_path: Path) -> None:
    (tmp_path / "late_late.en.txt.j2").write_text(BAD_TEMPLATE, encoding="utf-8")

    with pytest.raises(SystemExit) as caught:
        main(["templates", "check", "--dir", str(tmp_path), "--json"])

    assert caught.value.code == 1
