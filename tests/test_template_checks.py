"""The wording rules of ``assistant templates check``, each broken on purpose once."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.template_checks import (
    CHARACTER_LIMITS,
    WORD_LIMITS,
    check_template,
    check_templates,
    measure,
    prose_lines,
)
from assistant.templating import shipped_template_dir

# A user's English gentle reminder that passes every rule. Each case below
# changes one line of it.
GOOD_TEMPLATE = """\
Subject: Reminder: invoice {{ invoices[0].number }} is due soon

Dear {{ contact_name }},

A friendly reminder that the invoices below are due soon. If the payment is \
already on its way, thank you, and please disregard this note.

{% for invoice in invoices %}
- Invoice {{ invoice.number }}: {{ invoice.balance_text }}, due {{ invoice.due_date_text }}
{% endfor %}

I have attached a copy of the invoice for convenience. If you have any questions, \
just reply to this email and I will be glad to help.

You can pay by:
{% for option in payment_options %}
- {{ option.label }}: {{ option.details | indent(2) }}
{% endfor %}

Best regards,
{{ signature }}
"""

LONG_PARAGRAPH = (
    "I know how busy the end of the quarter gets for finance teams, and I really "
    "appreciate all the work that goes into processing supplier payments on time. "
    "Please do not hesitate to get in touch with me if there is anything at all "
    "that I could do on my side to make the payment process simpler or quicker "
    "for you and your colleagues in the accounts department."
)

BROKEN_TEMPLATES = [
    pytest.param(
        "renders",
        GOOD_TEMPLATE.replace("Dear {{ contact_name }}", "Dear {{ contact }}"),
        id="undefined-variable",
    ),
    pytest.param(
        "subject",
        GOOD_TEMPLATE.replace(
            "Subject: Reminder: invoice {{ invoices[0].number }} is due soon",
            "Subject: Reminder about your invoice",
        ),
        id="subject-without-number",
    ),
    pytest.param(
        "subject",
        GOOD_TEMPLATE.replace(
            "is due soon\n", "is due soon, so please take a quick look at it today\n", 1
        ),
        id="subject-too-long",
    ),
    pytest.param(
        "length",
        GOOD_TEMPLATE.replace(
            "You can pay by:", LONG_PARAGRAPH + "\n\nYou can pay by:"
        ),
        id="body-too-long",
    ),
    pytest.param(
        "greeting",
        GOOD_TEMPLATE.replace("Dear {{ contact_name }},", "To whom it may concern,"),
        id="generic-greeting",
    ),
    pytest.param(
        "invoice_details",
        GOOD_TEMPLATE.replace(", due {{ invoice.due_date_text }}", ""),
        id="no-due-date",
    ),
    pytest.param(
        "payment_options",
        GOOD_TEMPLATE.replace(
            "- {{ option.label }}: {{ option.details | indent(2) }}", ""
        ),
        id="no-payment-options",
    ),
    pytest.param(
        "attachment",
        GOOD_TEMPLATE.replace("I have attached a copy", "I have included a copy"),
        id="no-attachment",
    ),
    pytest.param(
        "sign_off",
        GOOD_TEMPLATE.replace("Best regards,", "Talk soon,"),
        id="no-sign-off",
    ),
    pytest.param(
        "sign_off",
        GOOD_TEMPLATE.replace("{{ signature }}", "{{ sender_name }}"),
        id="no-signature",
    ),
    pytest.param(
        "urgent",
        GOOD_TEMPLATE.replace("due soon.", "due soon, which is urgent."),
        id="urgent-before-late-late",
    ),
]


def write_template(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_templates_pass(tmp_path: Path) -> None:
    reports = check_templates(tmp_path)

    assert len(reports) == 8
    for report in reports:
        assert report.failures == (), report.name


def test_good_user_template_passes(tmp_path: Path) -> None:
    path = write_template(tmp_path, "gentle.en.txt.j2", GOOD_TEMPLATE)

    report = check_template(path.name, path, tmp_path)

    assert report.failures == ()


@pytest.mark.parametrize(("rule", "text"), BROKEN_TEMPLATES)
def test_broken_rule_gives_one_warning(tmp_path: Path, rule: str, text: str) -> None:
    path = write_template(tmp_path, "gentle.en.txt.j2", text)

    report = check_template(path.name, path, tmp_path)

    assert [failure.rule for failure in report.failures] == [rule]


def test_late_late_needs_urgent_subject(tmp_path: Path) -> None:
    path = write_template(tmp_path, "late_late.en.txt.j2", GOOD_TEMPLATE)

    report = check_template(path.name, path, tmp_path)

    assert [failure.rule for failure in report.failures] == ["urgent"]
    assert "must start with URGENT" in report.failures[0].message


def test_unknown_stage_fails_name_rule(tmp_path: Path) -> None:
    path = write_template(tmp_path, "polite.en.txt.j2", GOOD_TEMPLATE)

    report = check_template(path.name, path, tmp_path)

    assert [failure.rule for failure in report.failures] == ["name"]


def test_japanese_generic_greeting_fails(tmp_path: Path) -> None:
    source = (shipped_template_dir() / "gentle.ja.txt.j2").read_text(encoding="utf-8")
    text = source.replace(
        "{{ parts.greeting() }}", "関係者各位\n\nいつもお世話になっております。"
    )
    path = write_template(tmp_path, "gentle.ja.txt.j2", text)

    report = check_template(path.name, path, tmp_path)

    assert [failure.rule for failure in report.failures] == ["greeting"]


def test_japanese_short_body_fails_length(tmp_path: Path) -> None:
    text = (
        "Subject: 請求書 {{ invoices[0].number }} のご案内\n\n"
        "{{ client_name }}\n{{ contact_name }} 様\n\n"
        "請求書を添付いたします。\n"
        "{% for invoice in invoices %}\n"
        "・{{ invoice.number }} {{ invoice.balance_text }} {{ invoice.due_date_text }}\n"
        "{% endfor %}\n"
        "{% for option in payment_options %}\n"
        "・{{ option.label }}：{{ option.details }}\n"
        "{% endfor %}\n\n"
        "よろしくお願いいたします。\n\n{{ signature }}\n"
    )
    path = write_template(tmp_path, "gentle.ja.txt.j2", text)

    report = check_template(path.name, path, tmp_path)

    assert [failure.rule for failure in report.failures] == ["length"]
    assert "characters, outside 100-300" in report.failures[0].message


def test_prose_skips_lists_and_signature() -> None:
    body = "Dear Jane,\n\nPlease pay:\n- Invoice 1\n  IBAN 123\n\nThanks,\nAlex\nAcme\n"

    assert prose_lines(body, "Alex\nAcme") == ["Dear Jane,", "Please pay:", "Thanks,"]


def test_measure_counts_words_or_characters() -> None:
    assert measure("Dear Jane, please pay.", WORD_LIMITS) == 4
    assert measure("いつも お世話に\nなっております。", CHARACTER_LIMITS) == 15
