"""End to end in a real browser: Playwright driving the system's Chromium against the console.

Log in, filter the queue, open a case, confirm it, batch-dismiss with a dry run, undo;
then the guard's next decision for the account has changed and the intel export holds
the confirmed case. Screenshots of each page go to $DISTILLGUARD_SCREENSHOTS (the docs
use docs/console/) or to the test's temporary folder.

Skipped when Chromium or the playwright package is missing (no browser is ever
downloaded: playwright drives the system's /usr/bin/chromium).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from distillguard.cli import app as cli
from distillguard.console.store import CaseStore
from distillguard.intel.stix import stable_id

from . import world
from .conftest import PASSWORD, Console, case_id, guard_account, guard_event

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium)")


def test_triage_confirm_batch_undo_in_chromium(console_with_guard: tuple[Console, str], store: CaseStore,
                                               acme: dict[str, Path], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (pip install -e '.[test]')")
    console, guard = console_with_guard
    shots = Path(os.environ.get("DISTILLGUARD_SCREENSHOTS") or tmp_path / "shots")
    shots.mkdir(parents=True, exist_ok=True)
    dialogs: list[str] = []
    target = world.ATTACKERS[0]
    assert guard_event(guard, target, 1)["action"] == "allow"          # before any decision

    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            page.goto(console.url + "/cases/1")                           # no session: sent to log in
            assert "/login" in page.url
            page.screenshot(path=str(shots / "login.png"))
            page.fill("#user", "rev")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url("**/cases/1")
            page.goto(console.url + "/cases")
            assert page.locator("#queue tbody tr").count() == 5
            page.screenshot(path=str(shots / "queue.png"))

            # filter the queue: campaigns tied by shared identities
            page.select_option("select[name=kind]", "campaign")
            page.select_option("select[name=tie]", "identity")
            page.click("#apply-filter")
            rows = page.locator("#queue tbody tr")
            assert rows.count() == 1 and "campaign c1" in rows.first.inner_text()
            page.screenshot(path=str(shots / "queue-filtered.png"))

            # open the case; the example prompts are behind a click and show attacker markup as text
            page.click("text=campaign c1: 3 accounts")
            page.wait_for_url("**/cases/*")
            assert page.locator("#status").inner_text() == "open"
            assert not page.locator("#examples .prompt").first.is_visible()
            page.click("#examples summary")
            prompt = page.locator("#examples .prompt").first
            assert prompt.is_visible() and "<script>" in prompt.inner_text()
            assert "Extract AI Model" in page.locator("#atlas").inner_text()
            assert page.locator("svg.graph circle").count() >= 1
            page.screenshot(path=str(shots / "case.png"), full_page=True)

            # confirm it
            page.fill("#reason", "one card, one template, one scraper")
            page.fill("#note_internal", "matches last month's hydra")
            page.click("#do-confirm")
            page.wait_for_selector("#flash")
            assert page.locator("#status").inner_text() == "confirmed"
            assert "3 delivered, 0 pending" in page.locator("#guard").inner_text()   # one per member
            page.screenshot(path=str(shots / "case-confirmed.png"), full_page=True)

            # batch-dismiss the lone accounts, dry run first
            page.goto(console.url + "/cases?kind=account")
            assert page.locator("#queue tbody tr").count() == 3
            page.select_option("#batch-action", "dismiss")
            page.click("#batch-preview")
            page.wait_for_selector("#preview-summary")
            assert "Nothing has changed yet. 3 case(s)" in page.locator("#preview-summary").inner_text()
            assert all(store.case(case_id(store, a)).status == "open"          # type: ignore[union-attr]
                       for a in (world.SOLO, world.WATCH, world.XSS_ACCOUNT))
            page.screenshot(path=str(shots / "batch-preview.png"), full_page=True)
            page.fill("#batch-reason", "our own monitoring probes")
            page.click("#batch-apply")
            page.wait_for_selector("#batch-undo")
            assert all(store.case(case_id(store, a)).status == "dismissed"     # type: ignore[union-attr]
                       for a in (world.SOLO, world.WATCH, world.XSS_ACCOUNT))
            assert guard_account(guard, world.SOLO)["override"] == "false_positive"
            page.screenshot(path=str(shots / "batch.png"), full_page=True)

            # undo: every case the batch closed is reopened, and the guard's override is lifted
            page.click("#batch-undo")
            page.wait_for_selector("#undone")
            assert all(store.case(case_id(store, a)).status == "reopened"      # type: ignore[union-attr]
                       for a in (world.SOLO, world.WATCH, world.XSS_ACCOUNT))
            assert guard_account(guard, world.SOLO)["override"] is None

            page.goto(console.url + "/batches")
            assert page.locator("table tbody tr").count() == 1
            page.screenshot(path=str(shots / "batches.png"), full_page=True)
            page.goto(console.url + "/outcomes")
            assert page.locator("#by-status").is_visible()
            page.screenshot(path=str(shots / "outcomes.png"), full_page=True)
            page.goto(console.url + "/audit")
            assert "chain intact" in page.locator("#chain").inner_text()
            page.screenshot(path=str(shots / "audit.png"), full_page=True)
        finally:
            browser.close()
    assert dialogs == []      # no injected script ever ran

    # the guard's next decision for a member of the confirmed campaign changed
    after = guard_event(guard, target, 2)
    assert after["action"] == "block"
    # and the intel export now holds the confirmed case, taken from the console's store
    runner = CliRunner()
    ring, out = tmp_path / "ring.toml", tmp_path / "bundle.json"
    assert runner.invoke(cli, ["intel", "keygen", "--out", str(ring)]).exit_code == 0
    r = runner.invoke(cli, ["intel", "export", str(acme["findings"]), "--cases", store.path, "--events",
                            str(acme["events"]), "--accounts", str(acme["accounts"]), "--keyring", str(ring),
                            "--org", "acme", "--id-key", str(tmp_path / "id.key"), "--out", str(out)])
    assert r.exit_code == 0, r.output
    key = bytes.fromhex((tmp_path / "id.key").read_text().strip())
    camps = [o["id"] for o in json.loads(out.read_text())["objects"] if o["type"] == "campaign"]
    assert camps == [stable_id("campaign", "acme", "c1", key=key)]
