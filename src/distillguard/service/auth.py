"""The guard's admin token: ``/v1/feedback`` and ``/v1/admin/*`` change what the guard does
(an unblock is one feedback call away), so they need ``Authorization: Bearer <service.admin_token>``.

Without a configured token those endpoints refuse every request (403) rather than stay open:
a guard that anyone reaching its port could reconfigure is worse than one that cannot be
reconfigured over HTTP. The token is compared in constant time; set it in the config, with
``--set service.admin_token=...``, or through ``$DISTILLGUARD_ADMIN_TOKEN``.
"""

from __future__ import annotations

import hmac
import os
from typing import Callable

from fastapi import HTTPException, Request

ENV = "DISTILLGUARD_ADMIN_TOKEN"


def admin_guard(configured: str | None) -> Callable[[Request], None]:
    """A FastAPI dependency enforcing the admin token (``configured`` or ``$DISTILLGUARD_ADMIN_TOKEN``)."""
    expected = configured or os.environ.get(ENV) or None

    def check(request: Request) -> None:
        if not expected:
            raise HTTPException(403, "admin and feedback endpoints are disabled: set service.admin_token "
                                     f"(or ${ENV}) and send Authorization: Bearer <token>")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), expected.encode()):
            raise HTTPException(401, "admin token required: Authorization: Bearer <service.admin_token>",
                                headers={"WWW-Authenticate": 'Bearer realm="distillguard-admin"'})

    return check
