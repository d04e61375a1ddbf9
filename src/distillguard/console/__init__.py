"""The analyst console: a case queue, case pages, decisions and their audit (docs/console.md).

Findings folders become *cases* (a campaign, or a flagged/watched account outside any
campaign) in an embedded SQLite case store. Analysts triage them in the browser; every
change is a typed, hash-chained activity; decisions flow into the guard (feedback), the
training labels and intel export.

Modules: ``store`` (schema, queue queries), ``activity`` (the chained log), ``importer``
(findings → cases), ``decisions`` (actions, batches, undo, where decisions go), ``auth``
(users, sessions, CSRF), ``graph`` (the aggregated campaign graph as SVG), ``metrics``
(outcomes, Prometheus), ``words`` (plain words for signals and ATLAS), ``app`` (routes).
"""
