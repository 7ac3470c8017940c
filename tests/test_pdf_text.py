"""Text extraction from invoice PDFs, over the real corpus and PDFs built here."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from assistant.invoice_match import contains_invoice_number
from assistant.pdf_text import extract_pdf_text

# Strings seen in each corpus PDF's text layer (pypdf 7.1), mostly the invoice
# number. The two corrupt files: one is 15 bytes and unreadable, the other has
# a broken cross-reference table that pypdf repairs.
EXPECTED_TEXT = {
    "invoice2data_AmazonWebServices.pdf": ["296664039561", "Bill to Address"],
    "invoice2data_AzureInterior.pdf": ["INV/2023/03/0008", "Beeswax XL"],
    "invoice2data_QualityHosting.pdf": ["47774", "Rechnungsnr."],
    "invoice2data_SammyMaystoneLinesTest.pdf": ["invoice_number_1", "$127.50"],
    "invoice2data_camelot-example.pdf": ["3906541086000"],
    "invoice2data_coolblue1.pdf": ["Factuurnummer", "6669263"],
    "invoice2data_saeco.pdf": ["Factuur totaal EUR 49,99"],
    "invoicemaker_expected-custom-language.pdf": ["Factura", "ACME Corporation"],
    "invoicemaker_expected-de.pdf": ["Rechnungsnummer: 2024-03-10t172205"],
    "invoicemaker_expected-fr.pdf": ["Facture N°: 2024-03-10t172205"],
    "invoicemaker_expected-minimal-data.pdf": ["Invoice ID: TODO"],
    "mustang_103767-Invoice-2026-03-24-1.pdf": ["Invoice 103767"],
    "mustang_EN16931_Einfach.pdf": ["471102"],
    "mustang_EXTENDED_Fremdwaehrung_wdis_fx-pdfa4.pdf": ["47110815", "GBP"],
    "mustang_Facture_F20180027.pdf": ["F20180027"],
    "mustang_MustangGnuaccountingBeispielRE-20170509_505.pdf": ["RE-20170509/505"],
    "mustang_corruptedV2PDF.pdf": ["RE-20171118/506"],
    "mustang_validAvoir_FR_type380_BASICWL.pdf": ["AV-2017-0005", "FA-2017-0010"],
    "mustang_zugferd_2p1_EXTENDED_PDFA-3A.pdf": ["R87654321012345"],
    "mustang_zugferd_invoice.pdf": ["Rechnungsnummer: 2014-03", "Kraxi GmbH"],
}
UNREADABLE = {"mustang_corrupt-factur-x-waytoosmall.pdf"}

# Invoice numbers that must be found as whole tokens in the extracted text.
INVOICE_NUMBERS = {
    "invoice2data_AzureInterior.pdf": "INV/2023/03/0008",
    "mustang_MustangGnuaccountingBeispielRE-20170509_505.pdf": "RE-20170509/505",
    "mustang_validAvoir_FR_type380_BASICWL.pdf": "AV-2017-0005",
    "mustang_103767-Invoice-2026-03-24-1.pdf": "103767",
}


def corpus_pdfs(corpus_dir: Path) -> list[Path]:
    return sorted((corpus_dir / "invoices").glob("*.pdf"))


def test_every_corpus_pdf_is_known(corpus_dir: Path) -> None:
    names = {path.name for path in corpus_pdfs(corpus_dir)}
    assert names == set(EXPECTED_TEXT) | UNREADABLE


def test_corpus_pdfs_yield_text_or_warning(
    corpus_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for path in corpus_pdfs(corpus_dir):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="assistant.pdf_text"):
            text = extract_pdf_text(path.read_bytes(), path.name)
        if path.name in UNREADABLE:
            assert text == "", path.name
            assert path.name in caplog.text, f"no warning names {path.name}"
        else:
            for expected in EXPECTED_TEXT[path.name]:
                assert expected in text, f"{expected!r} missing from {path.name}"


@pytest.mark.parametrize(("name", "number"), sorted(INVOICE_NUMBERS.items()))
def test_invoice_number_found_in_pdf(corpus_dir: Path, name: str, number: str) -> None:
    text = extract_pdf_text((corpus_dir / "invoices" / name).read_bytes(), name)
    assert contains_invoice_number(text, number)


def make_pdf(text: str, *, user_password: str | None = None) -> bytes:
    """Build a one-page PDF whose text layer is ``text`` (ASCII)."""
    writer = PdfWriter()
    page = writer.add_blank_page(width=595, height=842)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    fonts = DictionaryObject({NameObject("/F1"): writer._add_object(font)})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 12 Tf 72 760 Td ({text}) Tj ET".encode("ascii"))
    page[NameObject("/Contents")] = writer._add_object(content)
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password="owner-secret")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def test_built_pdf_text_extracted() -> None:
    assert extract_pdf_text(make_pdf("Invoice INV-2026-001")) == "Invoice INV-2026-001"


def test_empty_user_password_pdf_read() -> None:
    data = make_pdf("Invoice INV-7", user_password="")
    assert extract_pdf_text(data, "locked.pdf") == "Invoice INV-7"


def test_password_protected_pdf_warns(caplog: pytest.LogCaptureFixture) -> None:
    data = make_pdf("Invoice INV-8", user_password="client-secret")
    with caplog.at_level(logging.WARNING, logger="assistant.pdf_text"):
        assert extract_pdf_text(data, "secret.pdf") == ""
    assert "secret.pdf is encrypted" in caplog.text


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a pdf at all",
        b"%PDF-1.7\n",
        b"%PDF-1.4\n1 0 obj << /Type /Catalog",
        b"\x00" * 64,
    ],
)
def test_broken_pdf_returns_empty(
    data: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="assistant.pdf_text"):
        assert extract_pdf_text(data, "broken.pdf") == ""
    assert "broken.pdf" in caplog.text


def test_truncated_pdf_never_raises() -> None:
    data = make_pdf("Invoice INV-9")
    for cut in range(0, len(data), max(1, len(data) // 40)):
        assert isinstance(extract_pdf_text(data[:cut], "cut.pdf"), str)
