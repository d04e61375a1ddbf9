"""The scan on Apache Spark: ``distillguard scan EVENTS --engine spark``.

Why: one machine running DuckDB has a ceiling (memory, one node's cores); providers that
see billions of requests already run Spark. This package runs the scan's per-event work on
a Spark cluster (or ``local[N]``) and keeps every *definition* where it already lives:

* per-request features are the DuckDB SQL of :mod:`distillguard.features.account`, run on
  each Arrow batch inside ``mapInArrow`` (one definition, two engines: the same RE2 rules
  and the same ``hash()`` values);
* per-account features are Spark SQL equal to ``build_account_features``, and live
  detectors score them with their own ``score_features`` inside ``mapInArrow``;
* template sketches are :func:`distillguard.features.minhash.sketch` inside ``mapInArrow``,
  LSH banding and connected components are DataFrame joins (no RDDs: Spark Connect has none);
* Leiden communities run per connected component inside ``applyInPandas`` with the same
  :func:`distillguard.campaigns.cluster.communities`.

What still runs on the driver, and why, is in docs/scale-out.md. Modules: ``session``
(starting Spark, clear errors), ``features``, ``sketches``, ``graph``, ``communities``, ``run``.
PySpark is optional: ``pip install 'distillguard[spark]'`` and Java 17+.
"""
