"""Ingest: provider files in, canonical Parquet and a quarantine report out."""

from distillguard.ingest.formats import detect_format, resolve_inputs
from distillguard.ingest.load import IngestReport, ingest, resolve_many
from distillguard.ingest.mapping import Mapping, load_mapping, profiles

__all__ = ["IngestReport", "Mapping", "detect_format", "ingest", "load_mapping", "profiles", "resolve_inputs",
           "resolve_many"]
