"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_corpus() -> Path:
    """The read-only corpus beside the project (CI has it too); skip if absent."""
    p = SHARED / "corpus"
    if not p.is_dir():
        pytest.skip("../shared/corpus not available")
    return p


@pytest.fixture(scope="session")
def atlas_yaml() -> Path:
    p = SHARED / "reference" / "mitre-atlas" / "ATLAS.yaml"
    if not p.exists():
        pytest.skip("../shared/reference/mitre-atlas not available")
    return p
