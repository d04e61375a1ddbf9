#!/usr/bin/env python
"""Output protection and the provenance test, measured against issue 11's targets.

Teacher outputs are the human GSM8K solutions in ../shared/corpus/responses/gsm8k.jsonl.gz
(train split; test split prompts as fresh probes); without the corpus it falls back to the
built-in generator. Students are the toy n-gram LM of distillguard.provenance.student and,
for the degrade experiment, the procedure-inducing student of provenance.reasoner.

Sections (each prints a table and is stored in bench/results/provenance.json):

  utility     meaning kept (chrF, word F1, hashed-embedding cosine) and length change of the mark
  detection   p-value vs number of probe queries, marked share 100/10/5/1 %
  fp          false positives over >= 100 clean students (clean teacher data / other sources)
  tracing     the leaking account named among 50 candidates, over repeated trials
  degrade     student accuracy after full / summarised / final-only traces
  paraphrase  what survives a paraphrase of the harvest before training
  likelihood  the paired likelihood test when the suspect scores text
  latency     protect() in process and POST /v1/protect over HTTP, 1k-token responses

    .venv/bin/python bench/bench_provenance.py                 # everything (~5-10 min on 2 busy cores)
    .venv/bin/python bench/bench_provenance.py --only detection,fp --fp-students 100
    .venv/bin/python bench/bench_provenance.py --quick         # smaller, for a smoke run
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "provenance.json"
CORPUS = REPO.parent / "shared" / "corpus"
SECRET = b"bench-provenance-secret-0001"


def _load(name: str) -> list[dict[str, Any]]:
    p = CORPUS / "responses" / f"{name}.jsonl.gz"
    with gzip.open(p, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def teacher_data() -> tuple[list[tuple[str, str]], list[str], str]:
    if (CORPUS / "responses" / "gsm8k.jsonl.gz").exists():
        rows = _load("gsm8k")
        train = [(r["prompt"], r["response"]) for r in rows if r.get("subset") == "train"]
        fresh = [r["prompt"] for r in rows if r.get("subset") == "test"]
        return train, fresh, "gsm8k (human solutions, ../shared/corpus/responses)"
    from distillguard.simulate.responses import builtin_pairs

    pairs = builtin_pairs(9000, seed=11)
    return pairs[:7000], [p for p, _ in pairs[7000:]], "built-in generator (corpus absent)"


def other_sources() -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for name in ("gsm8k_gpt3_175b_verification", "gsm8k_gpt3_6b_finetuning", "bbh_cot_code_davinci_002", "alpaca_5000"):
        if (CORPUS / "responses" / f"{name}.jsonl.gz").exists():
            out += [(r["prompt"], r["response"]) for r in _load(name)]
    return out


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def fmt_p(p: float) -> str:
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


# ----------------------------------------------------------------------------- utility
def chrf(ref: str, hyp: str, n: int = 6, beta: float = 2.0) -> float:
    """chrF (Popović 2015): character n-gram F-score, n = 1..6, beta = 2, spaces removed."""
    r, h = ref.replace(" ", ""), hyp.replace(" ", "")
    ps, rs = [], []
    for k in range(1, n + 1):
        cr = Counter(r[i:i + k] for i in range(len(r) - k + 1))
        ch = Counter(h[i:i + k] for i in range(len(h) - k + 1))
        if not cr or not ch:
            continue
        m = sum((cr & ch).values())
        ps.append(m / sum(ch.values()))
        rs.append(m / sum(cr.values()))
    if not ps:
        return 1.0
    p, rc = sum(ps) / len(ps), sum(rs) / len(rs)
    return 0.0 if p + rc == 0 else (1 + beta**2) * p * rc / (beta**2 * p + rc)


def word_f1(a: str, b: str) -> float:
    ca, cb = Counter(a.lower().split()), Counter(b.lower().split())
    m = sum((ca & cb).values())
    return 1.0 if not ca and not cb else 2 * m / (sum(ca.values()) + sum(cb.values()))


def bench_utility(n: int) -> dict[str, Any]:
    from distillguard.features.embed import embed_texts
    from distillguard.protect.degrade import final_answer
    from distillguard.protect.watermark import Watermark

    wm = Watermark(SECRET)
    files = ["gsm8k", "bbh_cot_code_davinci_002", "alpaca_5000", "code_alpaca_2k"]
    out: dict[str, Any] = {}
    print("\n== utility: cost of the watermark (each response marked for one account)")
    print(f"{'file':28} {'chrF':>6} {'wordF1':>7} {'embed':>6} {'|dlen|%':>8} {'dlen%':>7} {'sites/100w':>10} {'changed':>8} {'final kept':>10}")
    for f in files:
        if not (CORPUS / "responses" / f"{f}.jsonl.gz").exists():
            continue
        rows = _load(f)[:n]
        orig = [r["response"] for r in rows]
        marked = [wm.apply(t, f"acct_{i % 50}") for i, t in enumerate(orig)]
        mt = [m.text for m in marked]
        ch = statistics.mean(chrf(a, b) for a, b in zip(orig, mt))
        wf = statistics.mean(word_f1(a, b) for a, b in zip(orig, mt))
        ea, eb = embed_texts(orig), embed_texts(mt)
        emb = float((ea * eb).sum(axis=1).mean())
        dl = [abs(len(b) - len(a)) / max(len(a), 1) for a, b in zip(orig, mt)]
        sdl = (sum(len(b) for b in mt) - sum(len(a) for a in orig)) / sum(len(a) for a in orig)
        words = sum(len(a.split()) for a in orig)
        sites = sum(m.sites for m in marked)
        changed = sum(m.changed for m in marked)
        fk = statistics.mean(final_answer(a)[0].split()[-1:] == final_answer(b)[0].split()[-1:] for a, b in zip(orig, mt))
        out[f] = {"responses": len(orig), "chrF": round(ch, 4), "word_f1": round(wf, 4), "embed_cosine": round(emb, 4),
                  "abs_length_change_pct": round(100 * statistics.mean(dl), 3), "length_change_pct": round(100 * sdl, 3),
                  "p95_abs_length_change_pct": round(100 * pct(dl, 0.95), 3),
                  "sites_per_100_words": round(100 * sites / words, 2), "changed_sites": changed,
                  "final_answer_kept": round(fk, 4)}
        o = out[f]
        print(f"{f:28} {ch:6.3f} {wf:7.3f} {emb:6.3f} {o['abs_length_change_pct']:8.2f} {o['length_change_pct']:7.2f} "
              f"{o['sites_per_100_words']:10.2f} {changed:8d} {fk:10.3f}")
    return out


# ----------------------------------------------------------------------------- experiments
class World:
    def __init__(self, n_accounts: int = 50) -> None:
        from distillguard.protect.canary import CanaryRegistry
        from distillguard.protect.policy import ProtectPolicy
        from distillguard.protect.protector import Protector

        self.train, self.fresh, self.source = teacher_data()
        self.accounts = [f"acct_{i:03d}" for i in range(n_accounts)]
        self.tmp = tempfile.mkdtemp(prefix="bench-prov-")
        self.registry = CanaryRegistry(Path(self.tmp) / "canaries.db")
        self.prot = Protector(SECRET, ProtectPolicy(canary_rate=0.05), self.registry)


def run_student(pairs: list[tuple[str, str]], probes: list[str], local: float, seed: int = 0) -> list[tuple[str, str]]:
    from distillguard.provenance.student import NGramStudent

    s = NGramStudent(pairs, local=local)
    return [(p, s.generate(p, seed * 100_003 + i)) for i, p in enumerate(probes)]


def bench_detection(w: World, quick: bool) -> dict[str, Any]:
    from distillguard.provenance.evidence import analyse
    from distillguard.provenance.experiment import harvest, mix

    n_train = 2000 if quick else 7000
    probes_grid = [50, 100, 200, 500]
    leaker = w.accounts[7]
    marked = harvest(w.prot, w.train[:n_train], leaker, "allow", prefix="det")
    rows = []
    print(f"\n== detection: p-value vs probe queries (teacher: {w.source}; {n_train} training pairs; "
          f"{len(w.accounts)} candidate accounts)")
    print(f"{'marked':>7} {'student':>14} {'probes':>10} " + " ".join(f"{q:>9}" for q in probes_grid) + "   traced@500")
    for share in ([1.0, 0.1] if quick else [1.0, 0.1, 0.05, 0.01]):
        # the first answers came through our API (marked), the rest of the student's data did not
        train = mix(marked, w.train[round(share * n_train):], share, n_train, seed=1)
        harvested = [p for p, _ in marked[: round(share * n_train)]]
        for local in (0.7, 0.0):
            for kind, pool in (("harvested", harvested), ("fresh", w.fresh)):
                if local == 0.0 and kind == "harvested" and share < 1.0:
                    continue  # a pure LM does not condition on the prompt: probes are interchangeable
                pairs = run_student(train, pool[: max(probes_grid)], local)
                ps, traced = [], None
                for q in probes_grid:
                    if q > len(pairs):
                        ps.append(None)
                        continue
                    ev = analyse(pairs[:q], SECRET, accounts=w.accounts)
                    ps.append(ev.p_value)
                    traced = ev.traced
                rows.append({"marked_share": share, "local": local, "probes_kind": kind,
                             "p_by_probes": dict(zip(map(str, probes_grid), ps)), "traced_at_max": traced,
                             "available_probes": len(pool)})
                cells = " ".join(f"{fmt_p(p):>9}" if p is not None else f"{'-':>9}" for p in ps)
                print(f"{share:7.0%} {'kNN-LM' if local else 'pure LM':>14} {kind:>10} {cells}   {traced}")
    return {"teacher": w.source, "training_pairs": n_train, "leaker": leaker, "rows": rows}


def bench_fp(w: World, n_students: int, probes: int) -> dict[str, Any]:
    from distillguard.provenance.evidence import analyse

    other = other_sources()
    probe_set = [p for p, _ in w.train[:probes]]  # what a suspected account asked us
    clean_pool = w.train[probes:]  # never the probe prompts' answers
    ps: list[float] = []
    raw: list[float] = []  # every individual test's uncorrected p-value: the null's calibration
    kinds: list[str] = []
    t0 = time.time()
    for i in range(n_students):
        rng = random.Random(1000 + i)
        # three nulls: our teacher's unmarked answers (other prompts), the unmarked answers to the
        # very probe prompts (data obtained before marking was deployed), other models' outputs
        kind = ("clean teacher data", "same prompts, unmarked answers", "other sources")[i % 3 if other else i % 2]
        pool = {"clean teacher data": clean_pool, "same prompts, unmarked answers": w.train[:1500],
                "other sources": other}[kind]
        train = rng.sample(pool, min(1500, len(pool)))
        local = rng.choice([0.0, 0.3, 0.7])
        pairs = run_student(train, probe_set, local, seed=i)
        ev = analyse(pairs, SECRET, accounts=w.accounts[:20])
        ps.append(ev.p_value)
        raw += [t["p_value"] for t in ev.report["tests"]]
        kinds.append(kind)
    fp = sum(p < 0.01 for p in ps)
    by_kind = {k: sum(1 for p, kk in zip(ps, kinds) if kk == k and p < 0.01) for k in set(kinds)}
    print(f"\n== false positives: {n_students} clean students, {probes} probes each, 21 tests each (Holm)")
    print(f"combined p < 0.01: {fp}/{n_students} ({fp / n_students:.1%}); by kind {by_kind}; "
          f"min p {min(ps):.3g}; median {statistics.median(ps):.3g}; {time.time() - t0:.0f}s")
    r01, r05 = sum(p < 0.01 for p in raw) / len(raw), sum(p < 0.05 for p in raw) / len(raw)
    print(f"individual tests (uncorrected): {len(raw)}; p < 0.01: {r01:.2%}; p < 0.05: {r05:.2%} "
          f"(a calibrated test would give 1% and 5%; Hoeffding's bound is conservative)")
    return {"students": n_students, "probes": probes, "false_positives": fp, "rate": fp / n_students,
            "by_kind": by_kind, "min_p": min(ps), "median_p": statistics.median(ps), "kinds": dict(Counter(kinds)),
            "individual_tests": len(raw), "individual_below_0.01": r01, "individual_below_0.05": r05}


def bench_tracing(w: World, trials: int) -> dict[str, Any]:
    from distillguard.protect.policy import ProtectPolicy
    from distillguard.protect.protector import Protector
    from distillguard.provenance.evidence import analyse
    from distillguard.provenance.experiment import harvest, mix

    out = {}
    n_pairs = 5000
    print(f"\n== tracing: leaker among {len(w.accounts)} candidates, {trials} trials per setting, "
          f"{n_pairs} training pairs, up to 500 harvested probes")
    prot = Protector(SECRET, ProtectPolicy(canary_rate=0.0))
    for share in (1.0, 0.1):
        top1 = exact = 0
        for t in range(trials):
            rng = random.Random(500 + t)
            leaker = rng.choice(w.accounts)
            idx = rng.sample(range(len(w.train)), n_pairs)
            data = [w.train[i] for i in idx]
            n_marked = round(share * n_pairs)
            marked = harvest(prot, data[:n_marked], leaker, "allow", prefix=f"tr{t}")
            train = mix(marked, data[n_marked:], share, n_pairs, seed=t)
            pairs = run_student(train, [p for p, _ in marked[:500]], 0.7, seed=t)
            ev = analyse(pairs, SECRET, accounts=w.accounts)
            top1 += int(ev.report["accounts"][0]["account_id"] == leaker and ev.report["accounts"][0]["p_holm"] < 0.01)
            exact += int(ev.traced == [leaker])
        out[str(share)] = {"trials": trials, "training_pairs": n_pairs, "probes": min(500, round(share * n_pairs)),
                           "top1_significant": top1 / trials, "exactly_the_leaker": exact / trials}
        print(f"marked {share:4.0%}: leaker ranked first and significant {top1}/{trials}; traced set == [leaker] {exact}/{trials}")
    # a hydra: 100 accounts each harvest 50 answers; the provider mark is the same for all of them
    hydra = [f"hydra_{i:03d}" for i in range(100)]
    data = w.train[:n_pairs]
    marked = [pair for i, a in enumerate(hydra) for pair in harvest(prot, data[50 * i: 50 * i + 50], a, "allow", "hy")]
    pairs = run_student(marked, [p for p, _ in marked[::10]], 0.7)
    ev = analyse(pairs, SECRET, accounts=hydra + w.accounts)
    named = [a for a in ev.traced if a.startswith("hydra_")]
    wrong = [a for a in ev.traced if not a.startswith("hydra_")]
    out["hydra"] = {"accounts": 100, "answers_each": 50, "probes": len(pairs),
                    "provider_p": ev.report["tests"][0]["p_value"], "combined_p": ev.p_value,
                    "hydra_accounts_traced": len(named), "innocent_accounts_traced": len(wrong)}
    print(f"hydra of 100 accounts x 50 answers, {len(pairs)} probes: provider mark p = "
          f"{ev.report['tests'][0]['p_value']:.2g}; hydra accounts traced {len(named)}/100; innocent traced {len(wrong)}/50")
    return out


def bench_degrade(w: World) -> dict[str, Any]:
    from distillguard.protect.degrade import degrade
    from distillguard.provenance.reasoner import ProcedureStudent
    from distillguard.simulate.responses import builtin_pairs

    sets = {}
    if (CORPUS / "responses" / "gsm8k.jsonl.gz").exists():
        rows = _load("gsm8k")
        sets["gsm8k"] = ([(r["prompt"], r["response"]) for r in rows if r["subset"] == "train"],
                         [(r["prompt"], r["response"]) for r in rows if r["subset"] == "test"][:1000])
    b = [x for x in builtin_pairs(4000, 5) if "####" in x[1]]
    sets["builtin word problems"] = (b[:2500], b[2500:3000])
    out: dict[str, Any] = {}
    print("\n== degrade: student accuracy (procedure-inducing toy student) trained on the served traces")
    print(f"{'data':24} {'full':>8} {'summary':>8} {'short':>8} {'final':>8}   (share of traces carrying a procedure)")
    for name, (train, test) in sets.items():
        res = {}
        for mode in ("none", "summary", "short", "final"):
            served = [(p, degrade(r, None, mode, max_words=30).response) for p, r in train]
            s = ProcedureStudent(served)
            res[mode] = {"accuracy": round(s.accuracy(test), 4), "procedures": round(s.procedures, 3)}
        kept = statistics.mean(
            degrade(r, None, "final").response.split()[-1:] == r.split()[-1:] for _, r in train[:2000])
        out[name] = {**res, "final_answer_kept_for_the_user": round(kept, 4), "train": len(train), "test": len(test)}
        print(f"{name:24} " + " ".join(f"{res[m]['accuracy']:8.3f}" for m in ("none", "summary", "short", "final"))
              + "   " + " ".join(f"{res[m]['procedures']:.2f}" for m in ("none", "summary", "short", "final"))
              + f"   final answer kept for users: {kept:.3f}")
    return out


def bench_paraphrase(w: World) -> dict[str, Any]:
    from distillguard.protect.canary import CanaryRegistry
    from distillguard.protect.policy import ProtectPolicy
    from distillguard.protect.protector import Protector
    from distillguard.provenance.attacks import normalise, synonym_paraphrase
    from distillguard.provenance.evidence import analyse
    from distillguard.provenance.experiment import harvest

    reg = CanaryRegistry(Path(w.tmp) / "para.db")
    prot = Protector(SECRET, ProtectPolicy(canary_rate=0.2), reg)
    leaker = w.accounts[3]
    data = w.train[:2000]
    # half harvested before the account was flagged (marks), half while throttled (canaries too)
    marked = harvest(prot, data[:1000], leaker, "allow", "pa") + harvest(prot, data[1000:], leaker, "throttle", "pb")
    probes = [p for p, _ in data[:150]] + [p for p, _ in data[1000:1150]]
    attacks = {"none": lambda t, i: t, "synonym paraphrase (50% coverage, 50% rate)":
               lambda t, i: synonym_paraphrase(t, 0.5, 0.5, seed=i),
               "synonym paraphrase (100% coverage, 100% rate)": lambda t, i: synonym_paraphrase(t, 1.0, 1.0, seed=i),
               "lexicon-aware normalisation": lambda t, i: normalise(t, seed=i)}
    out = {}
    print("\n== paraphrase: harvest rewritten before training (student kNN-LM, 300 harvested probes incl. triggers)")
    print(f"{'attack':48} {'provider wm p':>14} {'leaker wm p':>12} {'canary p':>10} {'combined':>10} traced")
    for name, fn in attacks.items():
        train = [(p, fn(r, i)) for i, (p, r) in enumerate(marked)]
        pairs = run_student(train, probes, 0.7)
        ev = analyse(pairs, SECRET, accounts=w.accounts, registry=reg)
        t = {x["test"]: x for x in ev.report["tests"]}
        can = t.get(f"canary:{leaker}", {}).get("p_value", 1.0)
        row = {"provider_wm_p": t["watermark:provider"]["p_value"], "leaker_wm_p": t[f"watermark:account:{leaker}"]["p_value"],
               "canary_p": can, "canary_hits": t.get(f"canary:{leaker}", {}).get("hits", 0),
               "combined_p": ev.p_value, "traced": ev.traced}
        out[name] = row
        print(f"{name:48} {fmt_p(row['provider_wm_p']):>14} {fmt_p(row['leaker_wm_p']):>12} {fmt_p(can):>10} "
              f"{fmt_p(ev.p_value):>10} {ev.traced}")
    reg.close()
    return out


def bench_likelihood(w: World) -> dict[str, Any]:
    from distillguard.protect.watermark import Watermark
    from distillguard.provenance.experiment import harvest, mix
    from distillguard.provenance.likelihood import paired_test, twin_pairs
    from distillguard.provenance.student import NGramStudent

    wm = Watermark(SECRET)
    n = 7000
    leaker = w.accounts[7]
    marked = harvest(w.prot, w.train[:n], leaker, "allow", prefix="lik")
    out: dict[str, Any] = {}
    print("\n== paired likelihood test (suspect scores text; our unmarked answers as twins' base; 200 pairs)")
    print(f"{'marked':>7} {'student':>8} {'texts':>10} {'provider p':>11} {'prefers keyed':>14} {'leaker p':>10}")
    for share in (1.0, 0.1, 0.05, 0.01, 0.0):
        k = round(share * n)
        train = mix(marked, w.train[k:], share, n, seed=2) if share else w.train[200:n + 200]
        for local in (0.7, 0.0):
            s = NGramStudent(train, local=local)
            score = lambda items, s=s: [s.logprob(p, t) for p, t in items]  # noqa: E731
            # share 0, "harvested": our unmarked answers that the clean student did train on (the null
            # with the strongest memorisation: it prefers the original word, which the key ignores)
            for kind, refs in (("harvested", w.train[: max(k, 1)] if share else w.train[200:400]),
                               ("fresh", w.train[n + 200:])):
                if kind == "harvested" and local == 0.0:
                    continue
                prov = paired_test("provider", twin_pairs(wm, refs, None, 200), score)
                acc = paired_test(leaker, twin_pairs(wm, refs, leaker, 200), score)
                out[f"{share}/{local}/{kind}"] = {"provider": prov, "leaker": acc}
                print(f"{share:7.0%} {'kNN-LM' if local else 'pure LM':>8} {kind:>10} {fmt_p(prov['p_value']):>11} "
                      f"{prov['prefers_keyed']:>6}/{prov['informative']:<7} {fmt_p(acc['p_value']):>10}")
    return out


def bench_latency(w: World, n: int) -> dict[str, Any]:
    import httpx

    from distillguard.config import load_config
    from distillguard.protect.canary import CanaryRegistry
    from distillguard.protect.policy import ProtectPolicy
    from distillguard.protect.protector import Protector
    from distillguard.service.app import create_app
    from distillguard.testing.server import ThreadedServer

    # ~1k tokens of real reasoning text
    text, i = "", 0
    while len(text) < 4000:  # ~1k tokens at ~4 characters a token
        text += w.train[i][1] + "\n"
        i += 1
    tokens = round(len(text) / 4)
    reg = CanaryRegistry(Path(w.tmp) / "lat.db")
    prot = Protector(SECRET, ProtectPolicy(canary_rate=0.05), reg)
    out: dict[str, Any] = {"response_words": len(text.split()), "response_tokens_approx": tokens,
                           "loadavg": os.getloadavg()}
    print(f"\n== latency: protect() on a {len(text.split())}-word (~{tokens} token) response; load average "
          f"{os.getloadavg()[0]:.1f}")
    for action in ("allow", "throttle"):
        ts = []
        for k in range(n):
            t0 = time.perf_counter()
            prot.protect(f"acct_{k % 100}", action, f"r{k}", f"prompt {k}", text)
            ts.append((time.perf_counter() - t0) * 1000)
        out[f"in_process_{action}"] = {"p50_ms": round(pct(ts, 0.5), 3), "p99_ms": round(pct(ts, 0.99), 3)}
        print(f"in process, {action:8}: p50 {pct(ts, 0.5):.2f} ms  p99 {pct(ts, 0.99):.2f} ms")
    reg.close()
    d = Path(w.tmp)
    (d / "k").write_bytes(SECRET)
    (d / "pol.toml").write_text(f'[protect]\nkey_file = "{d / "k"}"\n')
    app = create_app(load_config(None, [f"service.state_path='{d / 'state.db'}'", f"service.policy_file='{d / 'pol.toml'}'"]))
    with ThreadedServer(app, log_level="error") as srv, httpx.Client(base_url=srv.url, timeout=10) as c:
        body = {"account_id": "a", "request_id": "r", "prompt": "p", "response": text}
        for _ in range(20):
            c.post("/v1/protect", json=body)
        ts = []
        for k in range(n):
            body["request_id"] = f"r{k}"
            t0 = time.perf_counter()
            r = c.post("/v1/protect", json=body)
            ts.append((time.perf_counter() - t0) * 1000)
            assert r.status_code == 200
    out["http_allow"] = {"p50_ms": round(pct(ts, 0.5), 3), "p99_ms": round(pct(ts, 0.99), 3),
                         "note": "client and server on the same 2 shared cores, sequential keep-alive requests"}
    print(f"over HTTP (uvicorn, 127.0.0.1), allow: p50 {pct(ts, 0.5):.2f} ms  p99 {pct(ts, 0.99):.2f} ms")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="utility,detection,fp,tracing,degrade,paraphrase,likelihood,latency")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--fp-students", type=int, default=100)
    ap.add_argument("--fp-probes", type=int, default=200)
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--latency-n", type=int, default=1000)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    only = set(a.only.split(","))
    res: dict[str, Any] = json.loads(RESULTS.read_text()) if RESULTS.exists() and not a.quick else {}
    res["machine"] = {"python": platform.python_version(), "cpus": os.cpu_count(), "loadavg_start": os.getloadavg()}
    t0 = time.time()
    w = World()
    if "utility" in only:
        res["utility"] = bench_utility(200 if a.quick else 1000)
    if "detection" in only:
        res["detection"] = bench_detection(w, a.quick)
    if "fp" in only:
        res["false_positives"] = bench_fp(w, 20 if a.quick else a.fp_students, a.fp_probes)
    if "tracing" in only:
        res["tracing"] = bench_tracing(w, 4 if a.quick else a.trials)
    if "degrade" in only:
        res["degrade"] = bench_degrade(w)
    if "paraphrase" in only:
        res["paraphrase"] = bench_paraphrase(w)
    if "likelihood" in only:
        res["likelihood"] = bench_likelihood(w)
    if "latency" in only:
        res["latency"] = bench_latency(w, 200 if a.quick else a.latency_n)
    res["seconds"] = round(time.time() - t0, 1)
    print(f"\ntotal {res['seconds']}s")
    if not a.no_write and not a.quick:
        RESULTS.write_text(json.dumps(res, indent=2, default=lambda x: None if isinstance(x, float) and math.isnan(x) else x) + "\n")
        print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
