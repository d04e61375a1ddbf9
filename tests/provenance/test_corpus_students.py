"""The provenance test on students of real teacher outputs (GSM8K human solutions, ../shared/corpus)."""

from __future__ import annotations

from pathlib import Path

from distillguard.protect.policy import ProtectPolicy
from distillguard.protect.protector import Protector
from distillguard.provenance.evidence import analyse
from distillguard.provenance.experiment import harvest, student
from distillguard.simulate.responses import load_corpus_responses

SECRET = b"corpus-students-secret-01"


def test_marked_and_clean_students_of_gsm8k(shared_corpus: Path) -> None:
    recs = [r for r in load_corpus_responses(shared_corpus, ["gsm8k"], limit=2400) if r.subset == "train"]
    pairs = [(r.prompt, r.response) for r in recs]
    prot = Protector(SECRET, ProtectPolicy(canary_rate=0.0))
    accounts = [f"acct_{i}" for i in range(10)]
    marked = harvest(prot, pairs[:1200], "acct_3")
    probes = [p for p, _ in pairs[:200]]
    for name, data, expect in (("marked", marked, True), ("clean", pairs[1200:], False)):
        s = student(data)
        ev = analyse([(p, s.generate(p, i)) for i, p in enumerate(probes)], SECRET, accounts=accounts)
        if expect:
            assert ev.p_value < 1e-6 and ev.traced == ["acct_3"], name
        else:
            assert ev.p_value > 0.01 and ev.traced == [], name
