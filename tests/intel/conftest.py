"""Fixtures: provider worlds A (exports) and B (matches), and A's exported bundle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from distillguard.intel.export import export_campaigns
from distillguard.intel.policy import load_policy
from distillguard.intel.stix import ExportOptions
from . import world


@pytest.fixture(scope="session")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("worlds")
    a = world.provider("a", root / "a", world.TEMPLATE_A, "John.Doe+distill@gmail.com", "203.0.113")
    b = world.provider("b", root / "b", world.TEMPLATE_B, "johndoe@googlemail.com", "203.0.113",
                       innocent_shares_ip="203.0.113.10")
    return {"root": root, "a": a, "b": b, "findings_a": world.findings_for("a", root / "a")}


@pytest.fixture(scope="session")
def bundle_a(worlds: dict[str, Any]) -> dict[str, Any]:
    bundle, rep = export_campaigns(worlds["findings_a"], ["c1"], worlds["a"]["events"], worlds["a"]["accounts"],
                                   world.keyring(), ExportOptions(org="provider-a"), load_policy(),
                                   oprf=world.oprf())
    assert not rep.policy_issues and not rep.stix_errors
    return bundle
