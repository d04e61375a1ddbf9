"""The console's web app: server-rendered pages (Jinja2, autoescaped), no script, no build step.

Pages: ``/login``, ``/cases`` (the queue), ``/cases/{id}``, ``/batch`` (dry run) and
``POST /batch`` (apply), ``/batches[/{id}]`` (undo), ``/outcomes``, ``/audit`` (the activity
log, reviewer and compliance), ``/audit/export.jsonl``, ``/find?ref=`` (what report.html
links to), ``/metrics`` (Prometheus) and ``/healthz``.

Security: every page but ``/login``, ``/metrics``, ``/healthz`` and ``/static`` needs a
session; every POST needs the session's CSRF token; roles are checked on each action (see
``auth``). Every value that can hold attacker text (prompts, ids, client strings, notes)
reaches the page only through Jinja2's autoescaping or ``html.escape`` in ``graph``; the
Content-Security-Policy allows no script at all.
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import httpx

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, PlainTextResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from distillguard.console import activity, auth, decisions, graph, metrics
from distillguard.console.store import CaseStore, QueueFilter
from distillguard.console.words import FACT_NAMES, TIES, signal_label, signal_words, technique
from distillguard.errors import AuditTamperedError, DistillGuardError

HERE = Path(__file__).parent
COOKIE = "dg_console"
PRE_COOKIE = "dg_console_login"
MAX_FORM = 64 * 1024
PAGE = 100
GUARD_VIEW = 5   # members whose live guard state a case page shows
MAX_FAILURES, LOCKOUT_S = 5, 600   # failed logins per user name within LOCKOUT_S before refusing
CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; "
       "base-uri 'none'")
ACTION_LABELS = {"assign": "Assign", "note": "Add note", "escalate": "Escalate", "confirm": "Confirm",
                 "dismiss": "Dismiss (false positive)", "allowlist": "Allowlist (customer's own bots)",
                 "appeal": "Record appeal", "reopen": "Reopen"}


class HTTPError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _env() -> Environment:
    env = Environment(loader=FileSystemLoader(str(HERE / "templates")), autoescape=select_autoescape(["html"]),
                      trim_blocks=False, lstrip_blocks=False)
    return env


def _fmt_s(v: float | None) -> str:
    if v is None:
        return "–"
    if v < 120:
        return f"{v:.0f} s"
    if v < 7200:
        return f"{v / 60:.0f} min"
    return f"{v / 3600:.1f} h"


def create_app(store: CaseStore, cfg: decisions.Settings, *, session_hours: float = 12.0,
               intel_loaded: bool = False, secure_cookies: bool = False,
               deliver_every_s: float = 2.0) -> FastAPI:
    """The console app over an open case store; ``cfg`` says where decisions go."""
    env = _env()
    stop = threading.Event()

    def deliver_loop() -> None:
        while not stop.wait(deliver_every_s):
            if cfg.guard_url and store.pending_deliveries():
                try:
                    decisions.deliver(store, cfg)
                except Exception:  # keep retrying; errors are recorded per row
                    pass

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # type: ignore[no-untyped-def]
        t = threading.Thread(target=deliver_loop, name="console-guard-delivery", daemon=True)
        t.start()
        try:
            yield
        finally:
            stop.set()

    app = FastAPI(title="distillguard console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.store, app.state.cfg = store, cfg

    def headers(resp: Response) -> Response:
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Cache-Control"] = "no-store"
        return resp

    def render(name: str, s: auth.Session | None, code: int = 200, **ctx: Any) -> Response:
        pending = store.pending_deliveries() if s and cfg.guard_url else 0
        html = env.get_template(name).render(s=s, pending=pending, **ctx)
        return headers(HTMLResponse(html, status_code=code))

    def current(request: Request) -> auth.Session | None:
        return auth.session(store, request.cookies.get(COOKIE))

    def need(request: Request, roles: tuple[str, ...] | None = None) -> auth.Session:
        s = current(request)
        if s is None:
            raise HTTPError(401, "log in first")
        if roles is not None and s.user.role not in roles:
            raise HTTPError(403, f"the {s.user.role} role cannot do this (needs {' or '.join(roles)})")
        return s

    async def form(request: Request) -> dict[str, str]:
        body = await request.body()
        if len(body) > MAX_FORM:
            raise HTTPError(413, "form too large")
        ctype = request.headers.get("content-type", "")
        if body and not ctype.startswith("application/x-www-form-urlencoded"):
            raise HTTPError(415, "forms must be application/x-www-form-urlencoded")
        try:
            parsed = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200)
        except (UnicodeDecodeError, ValueError) as e:
            raise HTTPError(400, f"unreadable form: {e}") from None
        return {k: v[-1] for k, v in parsed.items()}

    async def posted(request: Request, roles: tuple[str, ...] | None = None) -> tuple[auth.Session, dict[str, str]]:
        s = need(request, roles)
        f = await form(request)
        if not auth.csrf_ok(s, f.get("csrf")):
            raise HTTPError(403, "missing or wrong CSRF token: reload the page and try again")
        return s, f

    @app.exception_handler(HTTPError)
    async def _http_error(request: Request, e: HTTPError) -> Response:
        if e.code == 401 and request.method == "GET":
            return headers(RedirectResponse("/login?" + urlencode({"next": request.url.path}), status_code=303))
        return render("error.html", current(request), code=e.code, status_code=e.code, message=e.message)

    @app.exception_handler(PermissionError)
    async def _perm(request: Request, e: PermissionError) -> Response:
        return render("error.html", current(request), code=403, status_code=403, message=str(e))

    @app.exception_handler(DistillGuardError)
    async def _dg(request: Request, e: DistillGuardError) -> Response:
        code = 409 if isinstance(e, decisions.ActionError) else 400
        return render("error.html", current(request), code=code, status_code=code, message=str(e))

    # ------------------------------------------------------------------ login
    @app.get("/login")
    def login_page(request: Request, next: str = "/cases") -> Response:
        pre = secrets.token_urlsafe(24)
        resp = render("login.html", None, pre=pre, next=next if next.startswith("/") and not next.startswith("//") else "/cases")
        resp.set_cookie(PRE_COOKIE, pre, httponly=True, samesite="strict", secure=secure_cookies, max_age=1800)
        return resp

    failures: dict[str, list[float]] = {}

    @app.post("/login")
    async def login(request: Request) -> Response:
        f = await form(request)
        pre = request.cookies.get(PRE_COOKIE)
        if not pre or not auth.secrets_equal(pre, f.get("csrf", "")):
            raise HTTPError(403, "missing or wrong CSRF token: reload the login page")
        name = f.get("user", "").strip()
        now = time.monotonic()
        recent = [t for t in failures.get(name, []) if now - t < LOCKOUT_S]
        failures[name] = recent
        if len(recent) >= MAX_FAILURES:
            raise HTTPError(429, f"too many failed logins for this user: wait {LOCKOUT_S // 60} minutes")
        user = await run_in_threadpool(auth.authenticate, store, name, f.get("password", ""))
        if user is None:
            recent.append(now)
            pre2 = secrets.token_urlsafe(24)
            resp = render("login.html", None, code=401, pre=pre2, next=f.get("next", "/cases"),
                          error="wrong user name or password")
            resp.set_cookie(PRE_COOKIE, pre2, httponly=True, samesite="strict", secure=secure_cookies, max_age=1800)
            return resp
        failures.pop(name, None)
        token = auth.open_session(store, user, session_hours)
        nxt = f.get("next", "/cases")
        resp = headers(RedirectResponse(nxt if nxt.startswith("/") and not nxt.startswith("//") else "/cases",
                                        status_code=303))
        resp.set_cookie(COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies,
                        max_age=int(session_hours * 3600))
        resp.delete_cookie(PRE_COOKIE)
        return resp

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        await posted(request)
        auth.close_session(store, request.cookies.get(COOKIE))
        resp = headers(RedirectResponse("/login", status_code=303))
        resp.delete_cookie(COOKIE)
        return resp

    # ------------------------------------------------------------------ queue
    @app.get("/")
    def root() -> Response:
        return headers(RedirectResponse("/cases", status_code=303))

    @app.get("/cases")
    def queue(request: Request) -> Response:
        s = need(request)
        params = dict(request.query_params)
        f = QueueFilter.from_params(params)
        sort = params.get("sort", "priority")
        try:
            offset = max(0, int(params.get("offset", "0") or 0))
        except ValueError:
            raise HTTPError(400, "offset must be a number") from None
        total, cases = store.queue(f, sort=sort, limit=PAGE, offset=offset)
        base = {**f.params(), "sort": sort}
        return render("queue.html", s, f=f, sort=sort, total=total, cases=cases, offset=offset, choices=store.choices(),
                      ties=TIES, batch_actions=decisions.BATCH_ACTIONS,
                      page_prev=urlencode({**base, "offset": max(0, offset - PAGE)}),
                      page_next=urlencode({**base, "offset": offset + PAGE}))

    @app.get("/find")
    def find(request: Request, ref: str, provider: str | None = None) -> Response:
        need(request)
        c = store.find(ref, provider)
        if c is None:
            raise HTTPError(404, "no case holds this campaign or account id (import its findings first)")
        return headers(RedirectResponse(f"/cases/{c.id}", status_code=303))

    # ------------------------------------------------------------------ case page
    def allowed_actions(s: auth.Session, status: str) -> list[str]:
        out = []
        for a in decisions.ACTIONS:
            roles = auth.DECIDE if a in decisions.NEEDS_REVIEWER else auth.TRIAGE
            if s.user.role in roles and status in decisions.FROM[a]:
                out.append(a)
        return out

    @app.get("/cases/{case_id}")
    def case_page(request: Request, case_id: int, flash: str | None = None) -> Response:
        s = need(request)
        c = store.case(case_id)
        if c is None:
            raise HTTPError(404, f"no case #{case_id}")
        members = store.members(case_id)
        data = c.data
        ctx: dict[str, Any] = {"c": c, "data": data, "labels": ACTION_LABELS, "fact_names": FACT_NAMES,
                               "actions": allowed_actions(s, c.status), "intel": data.get("intel") or [],
                               "intel_loaded": intel_loaded, "guard_url": cfg.guard_url, "flash": flash}
        if c.kind == "campaign":
            sig = data.get("signals") or {}
            ctx["strengths"] = [{"label": signal_label(k), "words": signal_words(k), "value": float(v)}
                                for k, v in sorted(sig.items(), key=lambda kv: -float(kv[1]))]
            ctx["infra"] = sorted((data.get("shared_infrastructure") or {}).items())
            g = graph.from_case(data, members)
            ctx["graph"], ctx["graph_svg"] = g, Markup(graph.svg(g))
            act = data.get("member_activity") or {}
            ctx["members"] = [{"account_id": a, "score": sc or 0.0, "verdict": v,
                               "requests": (act.get(a) or {}).get("requests", ""),
                               "first": ((act.get(a) or {}).get("first") or "")[:16].replace("T", " "),
                               "last": ((act.get(a) or {}).get("last") or "")[:16].replace("T", " ")}
                              for a, sc, v in members[:200]]
            ctx["requests"] = data.get("request_count")
        else:
            ctx["reasons"] = [{"label": signal_label(str(r.get("signal"))), "words": signal_words(str(r.get("signal"))),
                               "value": float(r.get("value") or 0.0), "weight": r.get("weight"), "detail": r.get("detail")}
                              for r in data.get("reasons") or []]
            ctx["facts"] = data.get("facts") or {}
            ctx["requests"] = (data.get("activity") or {}).get("requests")
        ctx["atlas"] = [technique(t) for t in data.get("atlas") or []]
        ctx["tl_bucket"], tl = graph.timeline(data.get("timeline") or [])
        ctx["timeline_svg"] = Markup(tl)
        ctx["examples"] = data.get("examples") or []
        ctx["history"] = _history(case_id)
        g_rows = store.query("SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL), count(*) FILTER (WHERE "
                             "delivered_at IS NULL), max(error) FROM guard_outbox WHERE case_id=?", (case_id,))
        ctx["guard"] = {"delivered": g_rows[0][0], "pending": g_rows[0][1], "error": g_rows[0][2]}
        ctx["guard_now"] = guard_view([a for a, _, _ in members[:GUARD_VIEW]])
        sh = store.query("SELECT indicator_id, retracted_at FROM shared WHERE case_id=?", (case_id,))
        ctx["shared"], ctx["retracted"] = sh, any(r[1] for r in sh)
        return render("case.html", s, **ctx)

    def guard_view(accounts: list[str]) -> list[dict[str, Any]]:
        """What the guard does with these accounts right now (GET /v1/accounts/{id}); [] without a guard.

        Read with a short timeout: a slow or absent guard must not slow the case page down."""
        if not cfg.guard_url or not accounts:
            return []
        out: list[dict[str, Any]] = []
        try:
            with httpx.Client(base_url=cfg.guard_url.rstrip("/"), timeout=0.5) as client:
                for a in accounts:
                    r = client.get(f"/v1/accounts/{quote(a, safe='')}")
                    if r.status_code == 404:
                        out.append({"account_id": a, "action": "never seen", "override": None, "score": None})
                    elif r.status_code == 200:
                        d = r.json()
                        out.append({"account_id": a, "action": d.get("action"), "override": d.get("override"),
                                    "score": d.get("score")})
        except httpx.HTTPError as e:
            out.append({"account_id": "", "action": f"guard unreachable ({type(e).__name__})", "override": None,
                        "score": None})
        return out

    def _history(case_id: int) -> list[dict[str, Any]]:
        with store.lock:
            return activity.rows(store.con, case_id)

    @app.post("/cases/{case_id}/action")
    async def case_action(request: Request, case_id: int) -> Response:
        s, f = await posted(request, ("analyst", "reviewer"))
        action = f.get("action", "")
        out = await run_in_threadpool(decisions.act, store, cfg, case_id, action, s.user, reason=f.get("reason"),
                                      note_internal=f.get("note_internal"), note_public=f.get("note_public"),
                                      assignee=f.get("assignee"))
        if out.guard_queued:
            await run_in_threadpool(decisions.deliver, store, cfg)
        msg = f"{ACTION_LABELS.get(action, action)}: case #{case_id} is now {out.status_to.replace('_', ' ')}"
        if out.retraction:
            msg += f"; a retraction bundle was written to {out.retraction} (push it with distillguard intel push)"
        return headers(RedirectResponse(f"/cases/{case_id}?" + urlencode({"flash": msg}), status_code=303))

    # ------------------------------------------------------------------ batches
    @app.get("/batch")
    def batch_preview(request: Request) -> Response:
        s = need(request, ("analyst", "reviewer"))
        params = dict(request.query_params)
        action = params.pop("action", "")
        f = QueueFilter.from_params(params)
        p = decisions.preview(store, f, action)
        shown = [c for c in (store.case(i) for i in p.eligible[:200]) if c is not None]
        return render("batch.html", s, p=p, cases=shown)

    @app.post("/batch")
    async def batch_apply(request: Request) -> Response:
        s, form_ = await posted(request, ("reviewer",))
        action = form_.pop("action", "")
        token = form_.pop("token", "")
        reason = form_.pop("reason", None)
        note_public = form_.pop("note_public", None)
        f = QueueFilter.from_params(form_)
        batch_id, outs = await run_in_threadpool(decisions.apply_batch, store, cfg, f, action, s.user, token,
                                                 reason, note_public)
        await run_in_threadpool(decisions.deliver, store, cfg)
        return headers(RedirectResponse(f"/batches/{batch_id}?" + urlencode(
            {"flash": f"batch {batch_id}: {action} applied to {len(outs)} case(s)"}), status_code=303))

    @app.get("/batches")
    def batches_page(request: Request) -> Response:
        s = need(request)
        return render("batches.html", s, batches=decisions.batches(store))

    @app.get("/batches/{batch_id}")
    def batch_page(request: Request, batch_id: str, flash: str | None = None) -> Response:
        s = need(request)
        b = decisions.batch(store, batch_id)
        if b is None:
            raise HTTPError(404, f"no batch {batch_id}")
        shown = [c for c in (store.case(int(i)) for i in b["case_ids"][:500]) if c is not None]
        return render("batch.html", s, p=None, b=b, cases=shown, flash=flash)

    @app.post("/batches/{batch_id}/undo")
    async def batch_undo(request: Request, batch_id: str) -> Response:
        s, f = await posted(request, ("reviewer",))
        outs = await run_in_threadpool(decisions.undo_batch, store, cfg, batch_id, s.user, f.get("reason"))
        await run_in_threadpool(decisions.deliver, store, cfg)
        return headers(RedirectResponse(f"/batches/{batch_id}?" + urlencode(
            {"flash": f"undone: {len(outs)} case(s) reopened"}), status_code=303))

    @app.post("/outbox/deliver")
    async def outbox_deliver(request: Request) -> Response:
        await posted(request, ("reviewer",))
        ok, bad = await run_in_threadpool(decisions.deliver, store, cfg)
        return headers(RedirectResponse("/cases?" + urlencode({"status": "active"}), status_code=303))

    # ------------------------------------------------------------------ audit, outcomes, metrics
    @app.get("/audit")
    def audit_page(request: Request) -> Response:
        s = need(request, auth.AUDIT)
        with store.lock:
            try:
                chain, ok, err = activity.verify(store.con), True, None
            except AuditTamperedError as e:
                chain, ok, err = None, False, str(e)
            rows = activity.rows(store.con, limit=1000, newest_first=True)
        return render("audit.html", s, chain=chain, chain_ok=ok, chain_error=err, rows=rows,
                      more=chain is not None and chain.entries > len(rows))

    @app.get("/audit/export.jsonl")
    def audit_export(request: Request) -> Response:
        need(request, auth.AUDIT)
        import json

        with store.lock:
            lines = [json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
                     for r in activity.rows(store.con)]
        resp = PlainTextResponse("\n".join(lines) + ("\n" if lines else ""), media_type="application/x-ndjson")
        resp.headers["Content-Disposition"] = 'attachment; filename="console-activities.jsonl"'
        return headers(resp)

    @app.get("/outcomes")
    def outcomes_page(request: Request) -> Response:
        s = need(request)
        o = metrics.outcomes(store)
        return render("outcomes.html", s, o=o, fmt=_fmt_s, fp=sorted(o.fp_by_signal.items()))

    @app.get("/metrics")
    def prom() -> Response:
        return PlainTextResponse(metrics.prometheus(metrics.outcomes(store)),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        return {"ok": True, "cases": store.query("SELECT count(*) FROM cases")[0][0],
                "guard_pending": store.pending_deliveries()}

    @app.get("/static/console.css")
    def css() -> Response:
        return headers(FileResponse(HERE / "static" / "console.css", media_type="text/css"))

    return app

