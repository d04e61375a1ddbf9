"""Ingest: provider files in, canonical Parquet and a quarantine report out."""

from distillguard.ingest.formats import detect_format, resolve_inputs
from distillguard.ingest.load import IngestReport, ingest

__all__ = ["IngestReport", "detect_format", "ingest", "resolve_inputs"]
