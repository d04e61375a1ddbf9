"""docs/schema.md must describe exactly the columns schema.py enforces."""

from __future__ import annotations

import re
from pathlib import Path

from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, LABEL_COLUMNS

DOC = Path(__file__).resolve().parents[2] / "docs" / "schema.md"


def _section(name: str) -> list[tuple[str, str]]:
    text = DOC.read_text().split(f"## {name}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `(\w+)` \| [^|]+ \| (yes|no) \|", text, flags=re.M)


def test_doc_matches_code() -> None:
    for name, cols in (("events", EVENT_COLUMNS), ("accounts", ACCOUNT_COLUMNS), ("labels", LABEL_COLUMNS)):
        assert _section(name) == [(c.name, "yes" if c.required else "no") for c in cols], name
