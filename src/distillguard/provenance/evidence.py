"""The provenance test: did a suspect model learn from our outputs, and from whose account?

Tests, each against a null model in which the suspect never saw our key's outputs:

* ``watermark:provider`` - the provider mark (same for every account) in the suspect's text;
* ``watermark:account:<id>`` - one per candidate account: that account's mark (traitor tracing);
* ``canary:<id>`` - recall of the canaries issued to that account, for probes that were
  trigger prompts (registry rows), against the exact chance of writing the keyed name pair;
* ``likelihood:provider`` / ``likelihood:account:<id>`` - the paired likelihood test
  (provenance/likelihood.py), when the suspect scores text and our own unmarked answers are
  given: does it prefer our keyed variant over its twin more often than a fair coin?

p-values are corrected with Holm-Bonferroni over every test run, which holds under any
dependence between them; the combined p-value is the smallest corrected one (the
Bonferroni-Holm global test). An account is *traced* when one of its tests has a corrected
p-value under ``alpha``.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distillguard._version import __version__
from distillguard.protect.canary import Canaries, CanaryRegistry, contains, null_hit_probability, poisson_binomial_sf
from distillguard.protect.watermark import UNIFORM, Reference, Watermark


def holm(ps: Sequence[float]) -> list[float]:
    order = sorted(range(len(ps)), key=lambda i: ps[i])
    m, out, run = len(ps), [1.0] * len(ps), 0.0
    for rank, i in enumerate(order):
        run = max(run, min(1.0, (m - rank) * ps[i]))
        out[i] = run
    return out


@dataclass
class Evidence:
    report: dict[str, Any]
    pairs: list[tuple[str, str]] = field(repr=False)

    @property
    def p_value(self) -> float:
        return float(self.report["combined"]["p_value"])

    @property
    def traced(self) -> list[str]:
        return list(self.report["traced"])

    def write(self, out_dir: str | Path) -> dict[str, str]:
        d = Path(out_dir)
        d.mkdir(parents=True, exist_ok=True)
        (d / "provenance.json").write_text(json.dumps(self.report, indent=2) + "\n")
        with (d / "outputs.jsonl").open("w") as f:
            for p, o in self.pairs:
                f.write(json.dumps({"prompt": p, "output": o}) + "\n")
        (d / "provenance.html").write_text(render_html(self.report))
        return {k: str(d / f) for k, f in (("json", "provenance.json"), ("html", "provenance.html"),
                                          ("outputs", "outputs.jsonl"))}


def analyse(pairs: Sequence[tuple[str, str]], secret: bytes, *, accounts: Sequence[str] = (),
            registry: CanaryRegistry | None = None, reference: Sequence[str] | None = None,
            account_share: float = 0.5, canary_rate: float = 0.05, alpha: float = 0.01,
            suspect: dict[str, Any] | None = None,
            scorer: Callable[[Sequence[tuple[str, str]]], list[float]] | None = None,
            reference_pairs: Sequence[tuple[str, str]] | None = None, likelihood_pairs: int = 200) -> Evidence:
    """Run every available test on a suspect's (prompt, output) pairs.

    With ``scorer`` (log P(text | prompt) under the suspect) and ``reference_pairs`` (our own
    unmarked answers to probe prompts) the paired likelihood test runs too, for the provider
    mark and for the candidate whose watermark test ranks first."""
    t0 = time.time()
    wm = Watermark(secret, account_share)
    ref = Reference(reference) if reference else UNIFORM
    cl = wm.clusters(o for _, o in pairs)
    tests: list[dict[str, Any]] = []
    prov = wm.score_provider(cl, ref)
    tests.append({"test": "watermark:provider", "account_id": None, "p_value": prov.p_value, **prov.to_dict()})

    candidates = list(dict.fromkeys([*accounts, *(registry.accounts() if registry else [])]))
    for a in candidates:
        s = wm.score_account(cl, a, ref)
        tests.append({"test": f"watermark:account:{a}", "account_id": a, "p_value": s.p_value, **s.to_dict()})

    canary_info: dict[str, Any] = {"registry": registry.path if registry else None, "trigger_probes": 0,
                                   "hash_mismatches": 0}
    if registry is not None:
        can = Canaries(secret, canary_rate)
        per: dict[str, dict[str, Any]] = {}
        for prompt, output in pairs:
            rows = registry.by_prompt(can.prompt_hash(prompt))
            if not rows:
                continue
            canary_info["trigger_probes"] += 1
            q = null_hit_probability(output)
            for a in dict.fromkeys(r.account_id for r in rows):
                c = can.canary(a, prompt)
                if not any(r.canary_hash == can.hash(c.text) for r in rows if r.account_id == a):
                    canary_info["hash_mismatches"] += 1  # another key or policy issued it: not ours to test
                    continue
                d = per.setdefault(a, {"probs": [], "hits": 0})
                d["probs"].append(q)
                d["hits"] += int(contains(output, c))
        for a, d in per.items():
            p = poisson_binomial_sf(d["hits"], d["probs"])
            tests.append({"test": f"canary:{a}", "account_id": a, "p_value": p, "hits": d["hits"],
                          "probes": len(d["probs"]), "expected_by_chance": round(sum(d["probs"]), 6)})
    likelihood: dict[str, Any] = {"run": False, "why": "needs the suspect's token probabilities and our own "
                                  "unmarked answers (--likelihood with --reference)"}
    if scorer is not None and reference_pairs:
        from distillguard.provenance.likelihood import paired_test, twin_pairs

        owners: list[str | None] = [None]
        acc_tests = sorted((t for t in tests if t["test"].startswith("watermark:account:")), key=lambda t: t["p_value"])
        if acc_tests:
            owners.append(acc_tests[0]["account_id"])
        for owner in owners:
            r = paired_test(owner or "provider", twin_pairs(wm, reference_pairs, owner, likelihood_pairs), scorer)
            tests.append({"test": f"likelihood:{'provider' if owner is None else 'account:' + owner}",
                          "account_id": owner, **r})
        likelihood = {"run": True, "why": "paired sign test on log P(keyed) - log P(twin)"}
    adj = holm([t["p_value"] for t in tests])
    for t, a in zip(tests, adj):
        t["p_holm"] = a
    combined = min(adj) if adj else 1.0
    by_acct: dict[str, dict[str, Any]] = {}
    for t in tests:
        a = t["account_id"]
        if a is None:
            continue
        e = by_acct.setdefault(a, {"account_id": a, "p_holm": 1.0, "watermark_p": None, "canary_hits": None})
        e["p_holm"] = min(e["p_holm"], t["p_holm"])
        if t["test"].startswith("watermark"):
            e["watermark_p"] = t["p_value"]
            e["match_rate"] = t["match_rate"]
        elif t["test"].startswith("likelihood"):
            e["likelihood_p"] = t["p_value"]
        else:
            e["canary_hits"] = f"{t['hits']}/{t['probes']}"
    ranked = sorted(by_acct.values(), key=lambda e: (e["p_holm"], e["account_id"]))
    traced = [e["account_id"] for e in ranked if e["p_holm"] < alpha]
    report = {
        "distillguard": __version__, "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t0)),
        "suspect": suspect or {}, "probes": len(pairs), "alpha": alpha,
        "reference": "our unmarked outputs" if reference else "uniform (no reference)",
        "combined": {"p_value": combined, "method": "Holm-Bonferroni over all tests; smallest corrected p-value",
                     "tests": len(tests)},
        "verdict": ("evidence that the suspect learnt from our outputs" if combined < alpha
                    else "no evidence at this alpha (absence of evidence is not evidence of absence)"),
        "traced": traced, "accounts": ranked, "tests": tests, "canaries": canary_info,
        "likelihood": likelihood,
        "seconds": round(time.time() - t0, 3),
    }
    return Evidence(report, list(pairs))


def _fmt(p: float | None) -> str:
    if p is None:
        return "—"
    return f"{p:.3g}" if p >= 1e-300 else "< 1e-300"


def render_html(r: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(t['test'])}</td><td>{_fmt(t['p_value'])}</td><td>{_fmt(t['p_holm'])}</td>"
        f"<td>{e(', '.join(f'{k}={v}' for k, v in t.items() if k not in ('test', 'account_id', 'p_value', 'p_holm', 'owner')))}</td></tr>"
        for t in r["tests"])
    accts = "".join(
        f"<tr><td>{e(a['account_id'])}</td><td>{_fmt(a['p_holm'])}</td><td>{_fmt(a['watermark_p'])}</td>"
        f"<td>{e(str(a['canary_hits'] or '—'))}</td><td>{'yes' if a['account_id'] in r['traced'] else ''}</td></tr>"
        for a in r["accounts"][:50])
    sus = e(json.dumps(r["suspect"]))
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>distillguard provenance report</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse;width:100%;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}
.v{{font-size:1.2em;padding:.6em;border-left:5px solid {'#c0392b' if r['combined']['p_value'] < r['alpha'] else '#7f8c8d'};background:#f7f7f7}}</style></head><body>
<h1>Provenance report</h1>
<p>Suspect: <code>{sus}</code> · probes: {r['probes']} · generated {e(r['generated_at'])} · distillguard {e(r['distillguard'])}</p>
<p class="v"><b>{e(r['verdict'])}</b><br>combined p-value {_fmt(r['combined']['p_value'])} ({e(r['combined']['method'])}, {r['combined']['tests']} tests), alpha {r['alpha']}</p>
<h2>Accounts whose marks appear</h2>
<p>Traced at alpha {r['alpha']}: {e(', '.join(r['traced']) or 'none')}</p>
<table><tr><th>account</th><th>corrected p</th><th>watermark p</th><th>canary hits</th><th>traced</th></tr>{accts}</table>
<h2>Tests</h2>
<table><tr><th>test</th><th>p-value</th><th>Holm-corrected</th><th>detail</th></tr>{rows}</table>
<p>Reference for expected word choices: {e(r['reference'])}. Canaries: {e(json.dumps(r['canaries']))}.
Likelihood test: {'run' if r['likelihood']['run'] else 'not run'} ({e(r['likelihood']['why'])}).</p>
<h2>How to read this</h2>
<p>Each p-value is the probability, for a model that never saw text marked with our key, of evidence at
least this strong. It comes from the key's randomness alone (the watermark's keyed choices are uniform and
independent of any text written without the key), not from assumptions about the suspect. A small p-value says
the suspect's word choices follow our secret key; it does not say how much of its training data was ours.
Paraphrasing outputs before training removes the lexical marks (docs/provenance.md); canary facts survive a
paraphrase that keeps facts. The suspect's outputs are kept in outputs.jsonl beside this report.</p>
</body></html>
"""
