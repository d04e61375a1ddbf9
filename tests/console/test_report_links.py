"""report.html links each campaign and account to its console case when a console URL is configured."""

from __future__ import annotations

from pathlib import Path

from distillguard.findings import read_findings
from distillguard.report import write_report

from . import world


def test_report_links_to_console_cases(acme: dict[str, Path], tmp_path: Path) -> None:
    f = read_findings(acme["findings"])
    plain = write_report(f, None, tmp_path / "plain.html").read_text()
    assert "/find?ref=" not in plain
    html = write_report(f, None, tmp_path / "linked.html", console_url="http://127.0.0.1:8708/").read_text()
    assert 'href="http://127.0.0.1:8708/find?ref=c1"' in html
    assert 'href="http://127.0.0.1:8708/find?ref=acme-solo"' in html
    # an attacker-chosen account id is URL-encoded inside the link, never markup
    assert "find?ref=acme-%22%3E%3Csvg+onload%3Dalert%282%29%3E" in html
    assert "<svg onload" not in html
    # only http(s) URLs make links
    assert "/find?ref=" not in write_report(f, None, tmp_path / "js.html", console_url="javascript:alert(1)//").read_text()
    assert world.SOLO in html
