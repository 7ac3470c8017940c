"""Extract the text of a PDF attachment, such as an invoice, with pypdf.

A PDF that cannot be read (truncated, corrupt beyond pypdf's repair, or
encrypted with a password) yields "" and one WARNING naming it, so a caller
scanning many attachments is never stopped by one of them.
"""

from __future__ import annotations

import io
import logging

from pypdf import PdfReader
from pypdf.errors import PyPdfError

logger = logging.getLogger(__name__)

# pypdf raises its own PyPdfError subclasses for most damage, but a broken file
# can also surface as a plain ValueError, KeyError, TypeError, zlib or struct
# error from deep inside the parser (seen with pypdf 7.1 on the corrupt corpus
# files), so extraction guards with Exception at these two points only.
_UNREADABLE = Exception


def extract_pdf_text(data: bytes, name: str = "PDF") -> str:
    """Return the text of every page of the PDF in ``data``, pages separated by a newline.

    ``name`` (a file name) is used only in log messages. Returns "" when the
    PDF cannot be opened or decrypted, or has no text layer.
    """
    reader = _open(data, name)
    if reader is None:
        return ""

    pages: list[str] = []
    for number, page in enumerate(reader.pages, start=1):
        try:
            pages.append(page.extract_text() or "")
        except _UNREADABLE as exc:
            logger.warning(
                "page %d of %s is unreadable and was skipped: %s", number, name, _reason(exc)
            )
    return "\n".join(pages).strip()


def _open(data: bytes, name: str) -> PdfReader | None:
    if not data.lstrip()[:5].startswith(b"%PDF"):
        logger.warning("%s is not a PDF (no %%PDF header); no text extracted", name)
        return None
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not _decrypt_without_password(reader):
            logger.warning("%s is encrypted with a password; no text extracted", name)
            return None
        len(reader.pages)  # forces the page tree to load, where damage shows
    except _UNREADABLE as exc:
        logger.warning("%s is unreadable; no text extracted: %s", name, _reason(exc))
        return None
    return reader


def _decrypt_without_password(reader: PdfReader) -> bool:
    # Many invoices are "encrypted" only to restrict printing or copying, with
    # an empty user password, and open in any viewer; those are read.
    try:
        return bool(reader.decrypt(""))
    except (PyPdfError, NotImplementedError, ValueError):
        return False


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
