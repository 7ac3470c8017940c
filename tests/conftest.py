"""Shared fixtures: the read-only corpus of real messages, when it is present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CORPUS_DIR = Path(
    os.environ.get("ASSISTANT_CORPUS", Path(__file__).resolve().parents[2] / "shared" / "corpus")
)


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The corpus of real public messages beside the checkout, or skip."""
    if not CORPUS_DIR.is_dir():
        pytest.skip(f"real-message corpus not found at {CORPUS_DIR}; set ASSISTANT_CORPUS")
    return CORPUS_DIR
