"""Run the sent check over the ledger's unpaid invoices and record the findings."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

from assistant.clock import Clock
from assistant.errors import InputError
from assistant.ledger import Invoice, Ledger, SentEvidence
from assistant.mail_sync import MailReader
from assistant.sent_check import InvoiceTarget, classify_invoice

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckedInvoice:
    invoice: Invoice
    evidence: SentEvidence


def invoices_to_check(ledger: Ledger, numbers: Sequence[str] = ()) -> list[Invoice]:
    """Return the unpaid invoices to check: all of them, or those named."""
    if not numbers:
        return ledger.list_invoices(unpaid_only=True)
    invoices = []
    for number in numbers:
        invoice = ledger.get_invoice(number)
        if invoice is None:
            raise InputError(
                f"invoice {number} not found in the ledger; "
                "list them with 'assistant invoice list'"
            )
        invoices.append(invoice)
    return invoices


def check_invoices(
    ledger: Ledger,
    reader: MailReader,
    clock: Clock,
    numbers: Sequence[str] = (),
) -> list[CheckedInvoice]:
    """Classify each unpaid invoice from the mailbox and store the evidence."""
    invoices = invoices_to_check(ledger, numbers)
    targets = [_target(ledger, invoice) for invoice in invoices]
    snapshot = reader.snapshot(targets)

    checked_at = clock.now()
    results = []
    with ledger.transaction():
        for invoice, target in zip(invoices, targets):
            evidence = classify_invoice(target, snapshot.messages, snapshot.bounces, checked_at)
            ledger.set_evidence(evidence)
            results.append(CheckedInvoice(invoice, evidence))
    log.info("checked %d invoice(s) against the mailbox", len(results))
    return results


def _target(ledger: Ledger, invoice: Invoice) -> InvoiceTarget:
    client = ledger.get_client(invoice.client)
    addresses = frozenset(client.emails) if client else frozenset()
    return InvoiceTarget(number=invoice.number, client=invoice.client, client_addresses=addresses)


def evidence_json(evidence: SentEvidence) -> dict[str, object]:
    """Return the evidence in the documented ``check --json`` shape."""
    sent_at = evidence.sent_at.strftime("%Y-%m-%dT%H:%M:%SZ") if evidence.sent_at else None
    return {
        "number": evidence.invoice_number,
        "status": evidence.status,
        "message_id": evidence.message_id,
        "rfc822_message_id": evidence.rfc822_message_id,
        "thread_id": evidence.thread_id,
        "sent_at": sent_at,
        "to": list(evidence.recipients),
        "attachment": evidence.attachment_name,
        "detail": evidence.detail,
    }
