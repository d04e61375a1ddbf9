"""Spark tests run on a real local Spark (local[2]); they skip with the reason when PySpark or Java is absent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from distillguard.spark import session as ss

WHY = ss.missing()

CONF = {"spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}


@pytest.fixture(scope="session")
def spark() -> Iterator[Any]:
    """One local[2] session for every Spark test (starting a JVM takes seconds)."""
    if WHY:
        pytest.skip(WHY)
    s = ss.get_session("local[2]", None, CONF, app_name="distillguard-tests")
    yield s
    s.stop()
