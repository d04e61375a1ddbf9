"""Signal 8: account metadata is a weak, capped prior."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from core_world import T0, accounts, details, rows, scores, table
from distillguard.detectors.metadata import MetadataDetector, email_cue
from distillguard.scan import context


def _ev(acc: str, n: int = 20, ip: str | list[str] = "198.51.100.4") -> list[dict]:
    return rows(acc, [f"hello {i}" for i in range(n)], np.full(n, 60.0), ip=ip)


def test_cheap_identities_score_but_stay_capped() -> None:
    proxies = [f"{10 + i}.{i}.{i}.1" for i in range(40)]
    ev = table(_ev("cheap", 40, proxies), _ev("agency1"), _ev("agency2"), _ev("agency3"), _ev("old"))
    acc = accounts([
        {"account_id": "cheap", "created_at": T0 - timedelta(hours=3), "verified": False,
         "email": "xk29481@mailinator.com", "payment_fingerprint": "card-x"},
        *({"account_id": f"agency{i}", "created_at": T0 - timedelta(days=400), "verified": True,
           "email": f"client{i}@agency.example", "payment_fingerprint": "card-agency"} for i in (1, 2, 3)),
        {"account_id": "old", "created_at": T0 - timedelta(days=700), "verified": True, "email": "ana@uni.edu"},
    ])
    det = MetadataDetector()
    out = det.detect(context(ev, acc))
    s = scores(out)
    assert 0.5 < s["cheap"] <= det.max_score
    assert s["old"] == 0.0
    assert s["agency1"] < 0.2          # one card for a few client accounts: a weak cue only
    d = details(out)["cheap"]
    assert "disposable" in d and "not verified" in d and "/24 networks" in d


def test_email_cues() -> None:
    assert email_cue("a@mailinator.com")[0] == 0.8
    assert email_cue("john.smith@gmail.com")[0] == 0.0
    assert email_cue("user48213@gmail.com")[0] > 0
    assert email_cue(None)[0] == 0.0


def test_no_accounts_table_means_no_cues() -> None:
    s = scores(MetadataDetector().detect(context(table(_ev("a")))))
    assert s["a"] == 0.0


def test_shared_card_is_strong_only_behind_cheap_identities() -> None:
    """Ten verified, year-old seats on one company card are a customer; ten day-old,
    unverified accounts on one card are a hydra's cost saving."""
    ev = table(*(_ev(f"seat{i}") for i in range(10)), *(_ev(f"fresh{i}") for i in range(10)))
    acc = accounts([
        *({"account_id": f"seat{i}", "created_at": T0 - timedelta(days=400), "verified": True,
           "email": f"person{i}@company.example", "payment_fingerprint": "card-company"} for i in range(10)),
        *({"account_id": f"fresh{i}", "created_at": T0 - timedelta(days=1), "verified": False,
           "email": f"person{i}@proton.me", "payment_fingerprint": "card-hydra"} for i in range(10)),
    ])
    out = MetadataDetector().detect(context(ev, acc))
    s = scores(out)
    assert s["seat3"] < 0.25 < 0.55 < s["fresh3"]
    assert "established identity" in details(out)["seat3"]
