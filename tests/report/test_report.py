"""report.html renders every section, escapes attacker text and stays self-contained."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from plotly.offline import get_plotlyjs

from distillguard.errors import InputError
from distillguard.findings import Campaign, Findings, account_table
from distillguard.report import write_report
from distillguard.report import _data as D
from distillguard.report import _graph as G

XSS = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'  # as in conftest.py


class _Collect(HTMLParser):
    """Collects tags, ids, script bodies and visible text; fails on nothing (like a browser)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.tags: list[str] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self.links: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        d = dict(attrs)
        if d.get("id"):
            self.ids.add(d["id"] or "")
        if tag == "a" and d.get("href"):
            self.links.append(d["href"] or "")
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        (self.scripts if self._in_script else self.text).append(data)


def _parse(path: Path) -> _Collect:
    p = _Collect()
    p.feed(path.read_text(encoding="utf-8"))
    p.close()
    return p


@pytest.fixture()
def page(tmp_path: Path, findings: Findings, con: duckdb.DuckDBPyConnection, labels: pa.Table) -> Path:
    signals = pa.table({"account_id": ["acct-bad-1", "acct-bad-1"], "signal": ["templating", "reasoning"],
                        "score": [0.88, 0.93], "examples": [["acct-bad-1-r5"], ["acct-bad-1-r1", "nope"]]})
    return write_report(findings, con, tmp_path / "out" / "report.html", labels, signals=signals)


def test_sections_and_counts(page: Path) -> None:
    p = _parse(page)
    assert {"summary", "campaigns", "accounts", "atlas", "c-camp-1", "fig-hist", "fig-g1", "fig-t1"} <= p.ids
    text = " ".join(p.text)
    assert "accounts scanned" in text and "Account evidence" in text and "MITRE ATLAS mapping" in text
    # 3 flagged + 1 watched, 430 requests in the view, 2 quarantined at ingest (from meta)
    assert re.search(r"5\s+accounts scanned", text)
    assert re.search(r"430\s+requests", text)
    assert "quarantined" in text
    # reasons with their detail sentences, and ATLAS names next to ids, with links
    assert "91% of 120 prompts demand step-by-step reasoning" in text
    assert "LLM Prompt Crafting" in text
    assert "https://atlas.mitre.org/techniques/AML.T0065" in p.links
    # ground truth columns when labels are given
    assert "reasoning_harvest" in text and "Against ground truth" in text


def test_attacker_text_is_escaped(page: Path) -> None:
    raw = page.read_text(encoding="utf-8")
    assert "<script>alert" not in raw
    assert "<img src=x" not in raw
    assert "<b>in lockstep</b>" not in raw and "</td><b>bold?</b>" not in raw
    # ...but it is shown, as text, to the analyst
    p = _parse(page)
    text = " ".join(p.text)
    assert XSS in text
    assert "<b>in lockstep</b>" in text
    # every <script> on the page is ours: plotly.js plus one per figure
    assert p.tags.count("script") == 1 + 3
    assert not any("alert(" in s for s in p.scripts[1:])


def test_plotly_inlined_once_and_offline(page: Path) -> None:
    raw = page.read_text(encoding="utf-8")
    assert raw.count("plotly.js v") == 1
    ours = raw.replace(get_plotlyjs(), "")                          # plotly.js itself names its CDN
    assert "cdn.plot.ly" not in ours and "<script src=" not in ours and "http://" not in ours
    assert raw.count("Plotly.newPlot(") == 3


def test_example_prompts_from_events(page: Path) -> None:
    text = " ".join(_parse(page).text)
    assert "Solve step by step and show all reasoning" in text     # sampled prompts of flagged accounts
    assert "Summarise support ticket" in text                       # the watched account too
    assert "cover letter" not in text                               # clear accounts get no evidence rows


def test_graph_uses_shared_attributes(findings: Findings, con: duckdb.DuckDBPyConnection) -> None:
    c = findings.campaigns[0]
    scores = {a: (0.9, "flag") for a in c.account_ids}
    held = G.shared_attributes(c, con)
    g = G.build_graph(c, held, G.attribute_reach(con, [held]), scores)
    kinds = {(k, v) for k, v, _ in g.attributes}
    assert ("payment", "fp-SHARED") in kinds
    assert ("ip /24", "203.0.113.0/24") in kinds
    assert ("client", "python-httpx/0.28") in kinds
    assert len(g.edges) == 3 * len(g.attributes)                   # every attribute is shared by all 3
    assert G.shared_attributes(c, None) == {("payment_fingerprint", "fp-SHARED"): set(c.account_ids),
                                            ("ip_subnet", "203.0.113.0/24"): set(c.account_ids)}


def test_graph_prefers_rare_attributes_and_caps_nodes() -> None:
    members = [f"m{i}" for i in range(200)]
    c = Campaign(id="c", account_ids=members, score=0.9, first_seen=None, last_seen=None, request_count=0)
    shared = {("client", "popular-sdk"): set(members), ("payment", "card-1"): {"m150", "m151", "m152"}}
    shared.update({("ip /24", f"10.0.{i}.0/24"): {f"m{2 * i}", f"m{2 * i + 1}"} for i in range(60)})
    reach = {("client", "popular-sdk"): 50_000, ("payment", "card-1"): 3}
    g = G.build_graph(c, shared, reach, {})
    assert g.attributes[0][:2] == ("payment", "card-1")             # only the campaign holds it
    assert len(g.attributes) <= G.MAX_GRAPH_ATTRS and len(g.members) == G.MAX_GRAPH_MEMBERS
    assert {"m150", "m151", "m152"} <= {m[0] for m in g.members}      # members the rare card ties are drawn


def test_signal_examples_preferred(tmp_path: Path, findings: Findings, con: duckdb.DuckDBPyConnection) -> None:
    signals = pa.table({"account_id": ["acct-bad-1"], "signal": ["templating"], "score": [0.9],
                        "examples": [["acct-bad-1-r5"]]})
    rows = D.select_accounts(findings)
    ex = D.fetch_examples(con, D.example_ids(rows, findings, signals))
    assert ex["acct-bad-1"][0].request_id == "acct-bad-1-r5"
    assert ex["acct-bad-1"][0].signal == "templating"
    assert ex["acct-bad-1"][0].prompt == XSS                        # truncation keeps short prompts whole
    assert len(ex["acct-bad-2"]) == D.MAX_EXAMPLES


def test_without_events_or_labels(tmp_path: Path, findings: Findings) -> None:
    out = write_report(findings, None, tmp_path / "r.html")
    p = _parse(out)
    assert {"summary", "campaigns", "accounts", "atlas", "fig-g1"} <= p.ids
    assert "fig-t1" not in p.ids
    assert "no events given" in " ".join(p.text).lower()


def test_caps_and_notes(tmp_path: Path) -> None:
    n = D.MAX_ACCOUNTS + 30
    rows = [{"account_id": f"a{i:04d}", "score": 0.99 - i / 10_000, "verdict": "flag", "campaign_id": f"c{i % 40}",
             "reasons": [{"signal": "volume", "value": 1.0, "weight": 1.0, "detail": "many requests"}]}
            for i in range(n)]
    camps = [Campaign(id=f"c{k}", account_ids=[f"a{i:04d}" for i in range(k, n, 40)], score=0.5 + k / 100,
                      first_seen=None, last_seen=None, request_count=10) for k in range(40)]
    out = write_report(Findings(account_table(rows), camps, {}), None, tmp_path / "r.html")
    p = _parse(out)
    text = " ".join(p.text)
    assert f"{n:,} accounts are flagged or watched" in text and f"the {D.MAX_ACCOUNTS:,} most urgent" in text
    assert f"Graphs and timelines for the top {D.MAX_CAMPAIGNS} campaigns" in text
    assert sum(1 for i in p.ids if i.startswith("fig-g")) == D.MAX_CAMPAIGNS
    assert "c-c39" in p.ids                                          # highest score ranks first
    assert out.stat().st_size < 7_000_000


def test_truncate() -> None:
    assert D.truncate("a  b\n c") == "a b c"
    long = "x" * 1000
    assert len(D.truncate(long)) == D.PROMPT_CHARS and D.truncate(long).endswith("…")
    assert D.truncate(None) == ""


def test_bad_labels(tmp_path: Path, findings: Findings) -> None:
    with pytest.raises(InputError):
        write_report(findings, None, tmp_path / "r.html", pa.table({"who": ["x"]}))


def test_empty_findings(tmp_path: Path, con: duckdb.DuckDBPyConnection) -> None:
    out = write_report(Findings(account_table([]), [], {}), con, tmp_path / "r.html")
    text = " ".join(_parse(out).text)
    assert "No coordinated campaign found" in text and "No account is flagged or watched" in text


def test_examples_round_robin_over_signals(findings: Findings) -> None:
    signals = pa.table({"account_id": ["acct-bad-2"] * 3, "signal": ["window_test", "templating", "volume"],
                        "score": [1.0, 0.8, 0.0], "examples": [["r1", "r2", "r3"], ["r4", "r5"], []]})
    ids = D.example_ids(D.select_accounts(findings), findings, signals)["acct-bad-2"]
    assert ids == [("r1", "window_test"), ("r4", "templating"), ("r2", "window_test")]


def test_attribute_reach_counts_outsiders(findings: Findings, con: duckdb.DuckDBPyConnection) -> None:
    """A NAT shared with outsiders must look weaker than a card only the campaign uses."""
    con.execute("CREATE TABLE _extra AS SELECT 'out-' || i AS request_id, TIMESTAMPTZ '2026-03-02 01:00:00+00' AS ts,"
                " 'outsider-' || i AS account_id, '203.0.113.99' AS ip, 'curl/8' AS user_agent, 'hi' AS prompt"
                " FROM range(7) t(i)")
    con.execute("CREATE OR REPLACE VIEW events AS SELECT request_id, ts, account_id, ip, user_agent, prompt FROM _ev "
                "UNION ALL BY NAME SELECT * FROM _extra")
    reach = G.attribute_reach(con, [G.shared_attributes(findings.campaigns[0], con)])
    assert reach[("ip /24", "203.0.113.0/24")] == 3 + 7
    assert reach[("payment", "fp-SHARED")] == 3
    assert reach[("client", "python-httpx/0.28")] == 3


def test_missed_distillation_listed(tmp_path: Path, findings: Findings, con: duckdb.DuckDBPyConnection,
                                    labels: pa.Table) -> None:
    rows = findings.accounts.to_pylist()
    rows[2]["verdict"], rows[2]["score"] = "watch", 0.7          # acct-bad-3 slips under the flag
    f = Findings(account_table(rows), findings.campaigns, findings.meta)
    text = " ".join(_parse(write_report(f, con, tmp_path / "r.html", labels)).text)
    assert "1 highest-scoring distillation accounts not flagged" in text
    assert D.missed(f, D.label_index(labels, False), False) == [("acct-bad-3", 0.7, "watch", "truth-c1")]
