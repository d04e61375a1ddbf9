"""Starting (or reaching) Spark for a scan, with one clear error when it cannot be done.

``--master local[N]`` starts an in-process cluster of N cores (tests, one big machine);
``--master spark://…``/``yarn``/``k8s://…`` submits to a cluster; ``--remote sc://host:15002``
talks to a Spark Connect server (Databricks, a shared cluster), which has no RDD API, so
the engine only ever uses DataFrames and Arrow UDFs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING, Any

from distillguard.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

INSTALL_HINT = "pip install 'distillguard[spark]' and install Java 17+ (Debian: apt-get install openjdk-17-jre-headless)"

DEFAULT_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",
    "spark.sql.session.timeZone": "UTC",  # day and hour features are UTC, as in DuckDB and features.stream
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.ansi.enabled": "false",  # DuckDB semantics: integer division by zero is NULL, not an error
    # local[N]: the driver JVM is the executor; Spark's 1g default is too small for the account-
    # and sample-sized results the driver collects (a cluster sets its own in spark-submit)
    "spark.driver.memory": "4g",
    "spark.driver.maxResultSize": "2g",
}
"""Settings every scan session gets (``spark.conf`` in the configuration adds or overrides)."""


def java_version() -> str | None:
    """The first line of ``java -version``, or None when no Java runtime is on PATH/JAVA_HOME."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stderr or out.stdout).strip().splitlines()
    return text[0] if text else None


def missing(remote: bool = False) -> str | None:
    """Why the Spark engine cannot run here (one sentence), or None when it can.

    A Spark Connect client (``remote``) needs PySpark but no local Java.
    """
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return f"the Spark engine needs PySpark: {INSTALL_HINT}"
    if not remote and java_version() is None:
        return f"the Spark engine needs a Java runtime (none found on PATH or JAVA_HOME): {INSTALL_HINT}"
    return None


def require(remote: bool = False) -> None:
    """Raise a one-line ConfigError when PySpark or Java is missing."""
    why = missing(remote)
    if why:
        raise ConfigError(why)


def get_session(master: str | None = "local[2]", remote: str | None = None,
                conf: dict[str, Any] | None = None, app_name: str = "distillguard-scan") -> "SparkSession":
    """A SparkSession for ``master`` (classic) or ``remote`` (Spark Connect URL), with :data:`DEFAULT_CONF`.

    The Python workers run this interpreter (``PYSPARK_PYTHON`` defaults to ``sys.executable``)
    so that executors on this machine import the same distillguard; on a cluster, install
    distillguard on the executors' Python too (docs/scale-out.md).
    """
    require(remote=bool(remote))
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    builder = builder.remote(remote) if remote else builder.master(master or "local[2]")
    for k, v in {**DEFAULT_CONF, **{str(k): str(v) for k, v in (conf or {}).items()}}.items():
        builder = builder.config(k, v)
    try:
        return builder.getOrCreate()
    except Exception as e:  # noqa: BLE001 - py4j/JVM start-up failures have no common type
        raise ConfigError(f"could not start Spark ({remote or master}): {type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}") from e


def is_connect(spark: Any) -> bool:
    """Whether ``spark`` is a Spark Connect session (no SparkContext, no RDDs)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


__all__ = ["DEFAULT_CONF", "INSTALL_HINT", "get_session", "is_connect", "java_version", "missing", "require"]
