"""The consortium TAXII 2.1 hub (docs/hub.md). Entry point: ``distillguard.hub.app.create_app``.

Modules: settings (the [hub] section), storage (SQLite/PostgreSQL), auth (members),
limits (size/rate), admission (what a POST may add), aggregate (corroboration, metrics),
context + taxii (HTTP adapter), app (factory).
"""
