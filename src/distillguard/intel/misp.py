"""A MISP mapping for distillguard intel, with the object templates it needs.

MISP's generic STIX import (misp-stix ``ExternalSTIX2toMISPParser``) cannot map our
``x-llm-api-client`` patterns ("Unable to map pattern"), loses ``valid_until``, every
``x_distillguard_*`` property and the relationships, imports a retraction as a live
indicator and drops false-positive opinions. So MISP members get a mapping of their own,
built on MISP's object conventions and two object templates shipped here
(``misp_templates/distillguard-indicator`` and ``distillguard-opinion``; copy them into
MISP's ``misp-objects/objects/`` to get forms and validation in the UI):

* each indicator version -> a ``distillguard-indicator`` object (token, kind, category,
  confidence, validity, author, ``revoked``); a retracted indicator keeps ``revoked = true``
  and its token attribute ``to_ids = false`` (MISP's "do not use for detection");
* each opinion -> a ``distillguard-opinion`` object (opinion, the indicator ids, author);
* the TLP marking -> the event's ``tlp:`` tag; the author (identity id and name) is kept on
  every object, since a MISP event's ``Orgc`` is the importing instance's, not the author's.

``bundle_to_misp`` builds a MISP event (the JSON MISP's API takes), ``misp_to_objects``
turns such an event (as MISP, or misp-stix's round trip, gives it back) into the STIX
objects an :class:`~distillguard.intel.store.IntelStore` ingests. The round trip through
misp-stix (MISP -> STIX 2.1 -> MISP) is tested in tests/intel/test_interop_misp.py.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from importlib import resources
from typing import Any

from distillguard.intel import vocab
from distillguard.intel.store import pattern_value

INDICATOR = "distillguard-indicator"
OPINION = "distillguard-opinion"
_NS = uuid.UUID("0b8f6e1c-2a3d-4e5f-8a9b-0c1d2e3f4a5b")


def template(name: str) -> dict[str, Any]:
    """A shipped MISP object template (its definition.json)."""
    text = resources.files("distillguard.intel").joinpath(f"misp_templates/{name}/definition.json").read_text()
    return json.loads(text)


def _attr(rel: str, value: Any, tpl: dict[str, Any], *, to_ids: bool = False) -> dict[str, Any]:
    spec = tpl["attributes"][rel]
    if isinstance(value, bool):
        value = "1" if value else "0"
    return {"uuid": str(uuid.uuid4()), "object_relation": rel, "type": spec["misp-attribute"], "value": str(value),
            "to_ids": to_ids, "category": "Network activity" if rel == "token" else "Other",
            "disable_correlation": bool(spec.get("disable_correlation", False))}


def _obj(name: str, comment: str, attrs: list[dict[str, Any]], when: str) -> dict[str, Any]:
    tpl = template(name)
    return {"name": name, "meta-category": tpl["meta-category"], "description": tpl["description"],
            "template_uuid": tpl["uuid"], "template_version": str(tpl["version"]),
            "uuid": str(uuid.uuid5(_NS, comment + "|" + when)), "comment": comment,
            "timestamp": str(int(_dt(when).timestamp())), "distribution": "5", "Attribute": attrs}


def _dt(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def bundle_to_misp(bundle: dict[str, Any], *, info: str | None = None) -> dict[str, Any]:
    """A MISP event (``{"Event": {...}}``) holding every indicator and opinion of ``bundle``."""
    objs = bundle.get("objects", [])
    names = {o["id"]: o.get("name", o["id"]) for o in objs if o.get("type") == "identity"}
    authors = {o.get("created_by_ref") for o in objs if o.get("type") in ("indicator", "opinion")} - {None}
    tlps = {vocab.TLP2_LEVEL_BY_ID[m] for o in objs for m in o.get("object_marking_refs", [])
            if m in vocab.TLP2_LEVEL_BY_ID}
    ind_tpl, op_tpl = template(INDICATOR), template(OPINION)
    out: list[dict[str, Any]] = []
    for o in objs:
        if o.get("type") == "indicator":
            pv = pattern_value(str(o.get("pattern", "")))
            if pv is None:
                continue
            kind, token = pv
            live = not o.get("revoked") and o.get(vocab.PROP_CATEGORY) != "false-positive"
            attrs = [_attr("indicator-id", o["id"], ind_tpl), _attr("author", o.get("created_by_ref", ""), ind_tpl),
                     _attr("author-name", names.get(o.get("created_by_ref", ""), o.get("created_by_ref", "")), ind_tpl),
                     _attr("kind", kind, ind_tpl), _attr("token", token, ind_tpl, to_ids=live),
                     _attr("pattern", o["pattern"], ind_tpl),
                     _attr("category", o.get(vocab.PROP_CATEGORY, "confirmed"), ind_tpl),
                     _attr("confidence", int(o.get("confidence", 50)), ind_tpl),
                     _attr("created", o["created"], ind_tpl), _attr("modified", o["modified"], ind_tpl),
                     _attr("revoked", bool(o.get("revoked", False)), ind_tpl),
                     _attr("derived-from-hub", bool(o.get(vocab.PROP_DERIVED_FROM_HUB, False)), ind_tpl)]
            for rel, prop in (("valid-from", "valid_from"), ("valid-until", "valid_until")):
                if o.get(prop):
                    attrs.append(_attr(rel, o[prop], ind_tpl))
            if o.get(vocab.PROP_DETECTOR):
                attrs.append(_attr("detector", f"{o[vocab.PROP_DETECTOR]} {o.get(vocab.PROP_DETECTOR_VERSION, '')}"
                                   .strip(), ind_tpl))
            out.append(_obj(INDICATOR, o["id"], attrs, o["modified"]))
        elif o.get("type") == "opinion":
            attrs = [_attr("opinion-id", o["id"], op_tpl), _attr("author", o.get("created_by_ref", ""), op_tpl),
                     _attr("opinion", o.get("opinion", ""), op_tpl), _attr("created", o["created"], op_tpl)]
            attrs += [_attr("indicator-id", r, op_tpl) for r in o.get("object_refs", [])]
            if o.get(vocab.PROP_CATEGORY):
                attrs.append(_attr("category", o[vocab.PROP_CATEGORY], op_tpl))
            if o.get("explanation"):
                attrs.append(_attr("explanation", o["explanation"], op_tpl))
            out.append(_obj(OPINION, o["id"], attrs, o["modified"]))
    author = sorted(authors)[0] if authors else None
    now = datetime.now(timezone.utc)
    event = {"uuid": str(uuid.uuid4()), "info": info or "distillguard: adversarial-distillation campaign intel",
             "date": now.strftime("%Y-%m-%d"), "timestamp": str(int(now.timestamp())),
             "threat_level_id": "2", "analysis": "2", "distribution": "0",
             "Orgc": {"name": names.get(author, "distillguard member") if author else "distillguard member",
                      "uuid": author.split("--", 1)[1] if author else str(uuid.uuid4())},
             "Tag": [{"name": f"tlp:{t}"} for t in sorted(tlps)] + [{"name": "distillguard:intel"}],
             "Attribute": [], "Object": out}
    return {"Event": event}


def _values(obj: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    attrs = obj.attributes if hasattr(obj, "attributes") else obj.get("Attribute", [])
    for a in attrs:
        rel = a.object_relation if hasattr(a, "object_relation") else a.get("object_relation")
        val = a.value if hasattr(a, "value") else a.get("value")
        out.setdefault(str(rel), []).append(val)
    return out


def _bool(v: Any) -> bool:
    return v is True or str(v).lower() in ("1", "true")


def _ts(v: Any) -> str:
    """A STIX timestamp from whatever MISP gives back (text or datetime)."""
    dt = v if isinstance(v, datetime) else _dt(v)
    dt = dt.astimezone(timezone.utc) if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def misp_to_objects(event: Any, *, tlp: str | None = None) -> list[dict[str, Any]]:
    """STIX objects (indicators, opinions, the author identity) from a MISP event.

    ``event`` is a pymisp ``MISPEvent`` or the ``{"Event": ...}`` JSON. Objects of other
    templates are ignored.
    """
    ev = event.get("Event", event) if isinstance(event, dict) else event
    objects = ev.objects if hasattr(ev, "objects") else ev.get("Object", [])
    tags = [t.name if hasattr(t, "name") else t.get("name") for t in (ev.tags if hasattr(ev, "tags") else ev.get("Tag", []))]
    level = tlp or next((str(t).split(":", 1)[1] for t in tags if str(t).startswith("tlp:")), "amber")
    marking = vocab.TLP2_IDS.get(level.lower(), vocab.TLP2_IDS["amber"])
    out: list[dict[str, Any]] = []
    author_names: dict[str, str] = {}
    for o in objects:
        name = o.name if hasattr(o, "name") else o.get("name")
        v = _values(o)
        first = {k: vals[0] for k, vals in v.items()}
        if name == INDICATOR:
            kind, token = str(first["kind"]), str(first["token"])
            ind = {"type": "indicator", "spec_version": "2.1", "id": str(first["indicator-id"]),
                   "created": _ts(first.get("created", first["modified"])), "modified": _ts(first["modified"]),
                   "created_by_ref": str(first["author"]), "name": f"{kind} artefact",
                   "indicator_types": ["malicious-activity"],
                   "pattern": str(first.get("pattern") or
                                  f"[{vocab.CLIENT_SCO_TYPE}:{vocab.KIND_PROPERTY[kind]} = '{token}']"),
                   "pattern_type": "stix", "pattern_version": "2.1",
                   "valid_from": _ts(first.get("valid-from", first["modified"])),
                   "confidence": int(first.get("confidence", 50)), "labels": [str(first["category"]), kind],
                   "object_marking_refs": [marking], vocab.PROP_KIND: kind,
                   vocab.PROP_CATEGORY: str(first["category"]),
                   vocab.PROP_DERIVED_FROM_HUB: _bool(first.get("derived-from-hub", False)),
                   vocab.PROP_KEY_ID: token.split(":", 1)[0], "extensions": vocab.extension_marker()}
            if first.get("valid-until"):
                ind["valid_until"] = _ts(first["valid-until"])
            if first.get("author-name"):
                author_names[ind["created_by_ref"]] = str(first["author-name"])
            if _bool(first.get("revoked", False)):
                ind["revoked"] = True
            out.append(ind)
        elif name == OPINION:
            op = {"type": "opinion", "spec_version": "2.1", "id": str(first["opinion-id"]),
                  "created": _ts(first["created"]), "modified": _ts(first["created"]),
                  "created_by_ref": str(first["author"]), "opinion": str(first["opinion"]),
                  "object_refs": [str(x) for x in v.get("indicator-id", [])], "object_marking_refs": [marking]}
            if first.get("category"):
                op[vocab.PROP_CATEGORY] = str(first["category"])
                op["extensions"] = vocab.extension_marker()
            if first.get("explanation"):
                op["explanation"] = str(first["explanation"])
            out.append(op)
    for ident, name in sorted(author_names.items()):
        out.insert(0, {"type": "identity", "spec_version": "2.1", "id": ident,
                       "created": "2026-01-01T00:00:00.000Z", "modified": "2026-01-01T00:00:00.000Z",
                       "name": name, "identity_class": "organization", "object_marking_refs": [marking]})
    return out
