"""`distillguard provenance demo`: a watermark found in a toy student, over HTTP, in seconds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from distillguard.protect.canary import CanaryRegistry
from distillguard.protect.policy import ProtectPolicy
from distillguard.protect.protector import Protector
from distillguard.provenance.clients import EndpointSuspect
from distillguard.provenance.evidence import analyse
from distillguard.provenance.experiment import harvest, student
from distillguard.provenance.serve import chat_app
from distillguard.simulate.responses import builtin_pairs
from distillguard.testing.server import ThreadedServer

DEMO_SECRET = b"distillguard-demo-key-not-for-production"


def run_demo(out_dir: str | Path, probes: int = 300, seed: int = 0,
             echo: Callable[[str], Any] = print) -> dict[str, dict[str, str]]:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    reg = CanaryRegistry(out / "canaries.db")
    prot = Protector(DEMO_SECRET, ProtectPolicy(), reg)
    teacher = builtin_pairs(3000, seed)
    accounts = [f"acct_{i:03d}" for i in range(20)]
    leaker = accounts[7]
    # the leaker harvested 1,500 answers: the first 1,000 before the guard flagged it (allow:
    # marked only), the rest while throttled (summarised reasoning, canaries, marks)
    marked = (harvest(prot, teacher[:1000], leaker, action="allow")
              + harvest(prot, teacher[1000:1500], leaker, action="throttle"))
    clean = teacher[1500:]
    # probes: prompts our API served to the suspected account (from the logs), triggers included
    probe_prompts = [p for p, _ in teacher[: probes // 2]] + [p for p, _ in teacher[1000: 1000 + probes - probes // 2]]
    results: dict[str, dict[str, str]] = {}
    for name, data in (("marked", marked), ("clean", clean)):
        s = student(data)
        with ThreadedServer(chat_app(lambda prompt, sd, s=s: s.generate(prompt, sd), f"toy-{name}"),
                            log_level="error") as srv:
            pairs = EndpointSuspect(srv.url + "/v1", model=f"toy-{name}").collect(probe_prompts)
        ev = analyse(pairs, DEMO_SECRET, accounts=accounts, registry=reg, suspect={"student": name})
        results[name] = ev.write(out / name)
        r = ev.report
        echo(f"{name} student: combined p = {r['combined']['p_value']:.3g}; provider watermark p = "
             f"{r['tests'][0]['p_value']:.3g}; traced: {', '.join(r['traced']) or 'none'}")
    echo(f"(the leaking account was {leaker})")
    reg.close()
    return results
