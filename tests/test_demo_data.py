"""The shipped sample mailbox and ledger are what assistant.demo_data writes."""

from __future__ import annotations

from pathlib import Path

from assistant import demo_data
from assistant.pdf_text import extract_pdf_text


def test_shipped_files_match_generator(tmp_path: Path) -> None:
    demo_data.write_mailbox(tmp_path / demo_data.MAILBOX_FILE)
    demo_data.write_ledger(tmp_path / demo_data.LEDGER_FILE)

    for name in (demo_data.MAILBOX_FILE, demo_data.LEDGER_FILE):
        shipped = (demo_data.DATA_DIR / name).read_bytes()
        assert (tmp_path / name).read_bytes() == shipped, f"regenerate {name}"


def test_sample_pdf_names_number_and_amount() -> None:
    invoice = demo_data.INVOICES[0]

    text = extract_pdf_text(demo_data.invoice_pdf(invoice), name=invoice.number)

    assert invoice.number in text
    assert f"{invoice.amount} {invoice.currency}" in text
