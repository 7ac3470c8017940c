"""Local payment-reminder assistant for solo consultants who work in Gmail."""

__version__ = "0.1.0"
