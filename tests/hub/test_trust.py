"""Trust: poisoning, corroboration by distinct organisations, provenance, disputes, retractions, metrics."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from taxii2client.v21 import Collection

from distillguard.hub.aggregate import aggregate
from distillguard.hub.storage import SQLiteStorage

from .hubkit import COL, MemberCreds, client, envelope, identity, indicator, opinion, pattern


def _col(server, creds: MemberCreds) -> Collection:  # type: ignore[no-untyped-def]
    return Collection(f"{server.url}/consortium/collections/{COL}/", user=creds.name, password=creds.password)


def _view(server, creds: MemberCreds) -> dict[str, dict]:  # type: ignore[no-untyped-def,type-arg]
    with client(server, creds) as http:
        r = http.get("/hub/indicators", headers={"Accept": "application/json"})
        assert r.status_code == 200
        return {row["pattern"]: row for row in r.json()["indicators"]}


def test_poisoning_one_member_alone_never_makes_an_indicator_actionable(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    a, b = m["alpha"], m["beta"]
    # alpha (malicious or mistaken) shares beta's innocent customers' payment fingerprints,
    # several times, with maximal confidence and several indicator objects for the same key
    innocent = [indicator(a, "payment", f"beta-customer-{i}") for i in range(3)]
    dupes = [indicator(a, "payment", "beta-customer-0") for _ in range(3)]
    _col(server, a).add_objects(envelope(identity(a), *innocent, *dupes))
    view = _view(server, b)
    for ind in innocent:
        row = view[ind["pattern"]]
        assert row["status"] == "single-source" and row["actionable"] is False
        assert row["orgs"] == [a.identity] and row["corroboration"] <= 1.0
    # beta reports the first one as a false positive: it becomes disputed everywhere
    _col(server, b).add_objects(envelope(opinion(b, [innocent[0]["id"]])))
    row = _view(server, m["gamma"])[innocent[0]["pattern"]]
    assert row["disputed"] and row["status"] == "disputed" and not row["actionable"]
    assert row["disputed_by"] == [b.identity]


def test_corroboration_counts_organisations_and_ignores_hub_derived_reports(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    a, b, c = m["alpha"], m["beta"], m["gamma"]
    first = indicator(a, "email", "shared-fraud-identity")
    _col(server, a).add_objects(envelope(first))
    # gamma only re-reports it because it pulled it from the hub: stored, flagged, not counted
    echoed = indicator(c, "email", "shared-fraud-identity", derived=True)
    status = _col(server, c).add_objects(envelope(echoed))
    msg = next(s for s in status.successes if s["id"] == echoed["id"])["message"]
    assert "never counts as independent corroboration" in msg
    row = _view(server, a)[first["pattern"]]
    assert row["status"] == "single-source" and row["derived_orgs"] == [c.identity]
    # beta detects the same artefact independently: now two organisations corroborate
    _col(server, b).add_objects(envelope(indicator(b, "email", "shared-fraud-identity")))
    row = _view(server, a)[first["pattern"]]
    assert row["status"] == "corroborated" and row["actionable"]
    assert row["orgs"] == sorted([a.identity, b.identity]) and row["corroboration"] > 1.5


def test_revocation_reaches_members_on_next_pull(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    a, b = m["alpha"], m["beta"]
    ind = indicator(a, "subnet", "198.51.100.0/24")
    _col(server, a).add_objects(envelope(ind))
    with client(server, b) as http:
        r = http.get(f"/consortium/collections/{COL}/objects/")
        checkpoint = r.headers["X-TAXII-Date-Added-Last"]
    retracted = dict(ind, modified="2026-01-03T00:00:00.000Z", revoked=True)
    _col(server, a).add_objects({"objects": [retracted]})
    pulled = _col(server, b).get_objects(added_after=checkpoint)
    assert [(o["id"], o.get("revoked")) for o in pulled["objects"]] == [(ind["id"], True)]
    assert _view(server, b)[ind["pattern"]]["status"] == "retracted"


def test_outcome_metrics_per_member_and_kind(hub) -> None:  # type: ignore[no-untyped-def]
    server, _, m = hub
    a, b = m["alpha"], m["beta"]
    good = indicator(a, "email", "fraud-1")
    bad = indicator(a, "payment", "innocent-1")
    wrong = indicator(a, "email", "oops")
    _col(server, a).add_objects(envelope(good, bad, wrong))
    _col(server, b).add_objects(envelope(indicator(b, "email", "fraud-1"), opinion(b, [bad["id"]])))
    _col(server, a).add_objects({"objects": [dict(wrong, modified="2026-01-09T00:00:00.000Z", revoked=True)]})
    with client(server, m["reader"]) as http:
        r = http.get("/hub/metrics", headers={"Accept": "application/json"})
    assert r.status_code == 200
    rows = {(row["member"], row["kind"]): row for row in r.json()["by_member"]}
    email, payment = rows[("alpha", "email")], rows[("alpha", "payment")]
    assert (email["indicators"], email["confirmed"], email["corroborated"], email["retracted"]) == (2, 2, 1, 1)
    assert email["median_hours_to_retract"] is not None and email["median_hours_to_retract"] >= 0
    assert (payment["disputed"], payment["corroborated"]) == (1, 0)
    assert r.json()["by_kind"]["email"]["corroborated"] == 1


def test_age_weighting_and_expiry(tmp_path) -> None:  # type: ignore[no-untyped-def]
    storage = SQLiteStorage(":memory:")
    from .hubkit import add_member

    a = add_member(storage, "a", [COL], [COL])
    b = add_member(storage, "b", [COL], [COL])
    c = add_member(storage, "c", [COL], [COL])
    old = indicator(a, "ip", "x", modified="2025-01-01T00:00:00.000Z", created="2025-01-01T00:00:00.000Z")
    fresh = indicator(b, "ip", "x", modified="2026-01-20T00:00:00.000Z")
    expired = indicator(c, "ip", "y", valid_until="2026-01-02T00:00:00.000Z")
    storage.add_objects(COL, "a", [old])
    storage.add_objects(COL, "b", [fresh])
    storage.add_objects(COL, "c", [expired])
    now = datetime(2026, 1, 21, tzinfo=timezone.utc)
    aggs = aggregate(list(storage.iter_objects()), now=now, half_life_days=30, threshold=1.5)
    x = aggs[pattern("ip", "x")]
    assert len(x.orgs) == 2 and 0.95 < x.corroboration < 1.1  # a year-old sighting barely counts
    assert x.status == "single-source"
    # with a long half-life the same two organisations corroborate
    assert aggregate(list(storage.iter_objects()), now=now, half_life_days=3650)[pattern("ip", "x")].actionable
    assert aggs[pattern("ip", "y")].status == "expired"
    later = aggregate(list(storage.iter_objects()), now=now + timedelta(days=30_000))  # past valid_until (2099)
    assert later[pattern("ip", "x")].status == "expired"
