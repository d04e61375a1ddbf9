"""Typed settings of the consortium hub, read from the ``[hub]`` section of the config.

The hub owns its schema here; ``config.py`` uses :class:`HubSettings` as the ``[hub]``
section, so an unknown key fails when the config is loaded, naming the closest valid key. docs/hub.md lists every key; docs/examples/hub.toml is a sample.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from distillguard.errors import ConfigError


class CollectionSettings(BaseModel):
    """One TAXII collection the hub serves (its id is a UUID, as TAXII 2.1 requires)."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(..., min_length=36, max_length=36, description="UUID of the collection")
    title: str
    description: str = ""
    alias: str | None = None


DEFAULT_COLLECTION = CollectionSettings(
    id="1c3b0f7e-5d2a-4c56-9a51-7e0b8f9d2a10",
    title="distillation-campaigns",
    description="Indicators, opinions and sightings of adversarial distillation campaigns.",
    alias="campaigns",
)


class HubSettings(BaseModel):
    """Every knob of `distillguard hub serve`; defaults are safe for a small consortium."""

    model_config = ConfigDict(extra="forbid")
    title: str = "distillguard consortium hub"
    description: str = "TAXII 2.1 hub for sharing adversarial-distillation threat intelligence."
    contact: str = ""
    api_root: str = Field("consortium", pattern=r"^[A-Za-z0-9_-]+$", description="path segment of the one API root")
    database: str = Field("hub.sqlite", description="SQLite file, ':memory:', or a postgresql:// URL")
    collections: list[CollectionSettings] = Field(default_factory=lambda: [DEFAULT_COLLECTION])
    policy: str | None = Field(None, description="sharing policy TOML (None: the packaged default policy)")
    max_content_length: int = Field(2_000_000, gt=0, description="largest accepted request body in bytes (413 above)")
    max_objects_per_request: int = Field(5_000, gt=0)
    rate_limit_per_minute: int = Field(120, gt=0, description="requests per member (or per IP before auth)")
    rate_limit_burst: int = Field(60, gt=0)
    page_limit: int = Field(1_000, gt=0, description="largest page the hub returns, whatever `limit` asks")
    allow_insecure_http: bool = Field(False, description="accept credentials over plain HTTP (dev/tests only)")
    half_life_days: float = Field(30.0, gt=0, description="age weighting of corroboration: weight halves every N days")
    corroboration_threshold: float = Field(1.5, gt=0, description="age-weighted distinct orgs needed to be corroborated")
    validation_workers: int = Field(1, ge=1, le=64, description="processes validating large POSTs (1: in the "
                                    "server process, fastest on small machines; more only on many-core hubs)")
    oprf_max_per_request: int = Field(10_000, gt=0, le=10_000, description="OPRF evaluations per request")
    oprf_quota_per_day: int = Field(1_000_000, gt=0, description="OPRF evaluations per member per 24 h (429 above)")
    forwarded_allow_ips: str = Field("", description="proxy addresses whose X-Forwarded-* headers are trusted "
                                     "(comma list, passed to uvicorn); empty: none")
    host: str = "127.0.0.1"
    port: int = Field(8443, gt=0, lt=65536)
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> "HubSettings":
        """Build from a distillguard Settings (its ``hub`` section) or a plain dict."""
        raw = settings if isinstance(settings, dict) else settings.hub.model_dump()
        try:
            return cls.model_validate(raw)
        except ValidationError as e:
            raise ConfigError(str(e), source="[hub]") from e

    def collection(self, collection_id: str) -> CollectionSettings | None:
        return next((c for c in self.collections if c.id == collection_id), None)
