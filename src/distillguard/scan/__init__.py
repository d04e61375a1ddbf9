"""The batch scan: ``scan()`` runs the whole pipeline; ``context()`` gives detectors a real
DuckDB context over in-memory tables (tests, notebooks, plugins)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from distillguard.detectors.base import ScanContext


def context(events: pa.Table, accounts: pa.Table | None = None, work_dir: Path | None = None) -> "ScanContext":
    """A ScanContext with ``events``/``accounts`` views and account features built, like a scan's."""
    import tempfile

    from distillguard.config import EngineConfig
    from distillguard.detectors.base import ScanContext
    from distillguard.features import account as fa
    from distillguard.scan import engine
    from distillguard.schema import ACCOUNT_COLUMNS, EVENT_COLUMNS, conform

    work = work_dir or Path(tempfile.mkdtemp(prefix="dg-ctx-"))
    con = engine.connect(EngineConfig(), work)
    engine.register_events_table(con, conform(events, EVENT_COLUMNS))
    has_acc = False
    if accounts is not None and accounts.num_rows:
        con.register("_dg_acc_in", conform(accounts, ACCOUNT_COLUMNS))
        con.execute("CREATE OR REPLACE TABLE accounts AS SELECT * FROM _dg_acc_in")
        con.unregister("_dg_acc_in")
        has_acc = True
    else:
        engine.load_accounts(con, None)
    fa.build_request_features(con, "events_base", fa.REQUEST_FEATURES)
    engine.set_scope(con)
    fa.build_account_features(con, fa.SCOPED_REQUESTS, fa.ACCOUNT_FEATURES)
    return ScanContext(con=con, has_accounts=has_acc,
                       artefacts={"account_features": fa.ACCOUNT_FEATURES, "request_features": fa.SCOPED_REQUESTS})


__all__ = ["context"]
