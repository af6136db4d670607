"""Configuration from the environment (``CARELOG_*``, plus ``DATABASE_URL``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob Carelog reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="CARELOG_", extra="ignore")

    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "CARELOG_DATABASE_URL"),
        description="PostgreSQL 14+ URL; when unset, an embedded PostgreSQL is started.",
    )
    data_dir: Path = Field(
        default=Path(".carelog"),
        description="Folder of the embedded PostgreSQL's data (used when DATABASE_URL is unset).",
    )
    pool_min_size: int = Field(default=4, ge=1)
    pool_max_size: int = Field(default=16, ge=1)
    pool_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a database connection before 503."
    )
    statement_timeout_ms: int = Field(
        default=30_000,
        ge=0,
        description="Milliseconds a statement may run before PostgreSQL cancels it "
        "(503 service-busy); 0: no limit.",
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    max_header_bytes: int = Field(default=32 * 1024, ge=4096)
    max_json_depth: int = Field(default=32, ge=2, le=512)
    default_page_size: int = Field(default=20, ge=1)
    max_page_size: int = Field(default=500, ge=1)
    fhir_max_bundle_entries: int = Field(
        default=10_000,
        ge=1,
        description="The most entries a Bundle sent to POST /fhir may have (and it must fit "
        "the body limit too).",
    )
    batch_max_events: int = Field(
        default=10_000,
        ge=1,
        description="The most events one POST /patient-events/batch may hold (413 beyond).",
    )
    batch_max_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="The body limit of POST /patient-events/batch (every other route has "
        "max_body_bytes).",
    )
    fhir_import_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=1024,
        description="The largest NDJSON body POST /fhir/$import reads (streamed, never held "
        "whole; the usual body limit does not apply to it).",
    )
    fhir_import_processes: int = Field(
        default=0,
        ge=0,
        le=16,
        description="Processes that read (parse, validate against R4, map) the lines of POST "
        "/fhir/$import, each batch split among them, beside the one storing (0: a thread of "
        "the service's own process reads them). Reading is the import's bound once its "
        "events are written with COPY: see docs/benchmarks.md for what it gains.",
    )
    export_workers: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Bulk Data export jobs this process runs at once (0: it runs none; "
        "another instance's workers take its kick-offs).",
    )
    export_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often an idle export worker looks for a job."
    )
    export_stale_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A running export job whose worker has not been heard from for this long "
        "(its process died) is taken up by another worker.",
    )
    webhook_workers: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Webhook deliveries this process sends at once (0: none; another "
        "instance's workers send them).",
    )
    webhook_poll_seconds: float = Field(
        default=0.5, gt=0, description="How often an idle webhook worker looks for a delivery."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=60, description="How long a receiver has to answer an attempt."
    )
    webhook_max_attempts: int = Field(
        default=8,
        ge=1,
        le=50,
        description="Attempts before a delivery is a dead letter (a replay gives it as many "
        "again).",
    )
    webhook_backoff_seconds: float = Field(
        default=5.0,
        gt=0,
        description="The first retry's delay; each next one doubles it (with jitter: a random "
        "half to all of it), up to webhook_backoff_max_seconds.",
    )
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0)
    webhook_allow_http: bool = Field(
        default=False, description="Accept http:// receivers (tests; never in production)."
    )
    webhook_allow_private_addresses: bool = Field(
        default=False,
        description="Accept receivers on loopback, private, link-local and other non-public "
        "addresses (tests; an internal receiver). Refused otherwise (SSRF).",
    )
    key_use_flush_seconds: float = Field(
        default=5.0, gt=0, description="How often each process records keys' last use."
    )
    oidc_issuer: str | None = Field(
        default=None, description="Accept bearer JWTs from this issuer (the iss claim)."
    )
    oidc_audience: str | None = Field(default=None, description="Required aud claim.")
    oidc_jwks_url: str | None = Field(
        default=None,
        description="Where the issuer publishes its keys (cached; refreshed on unknown kid).",
    )
    oidc_jwks: str | None = Field(
        default=None,
        description="The issuer's public keys as a JWKS JSON document, instead of a URL.",
    )
    oidc_jwks_min_refresh_seconds: float = Field(
        default=30.0, ge=0, description="Fetch the JWKS at most this often (unknown kid)."
    )
    oidc_algorithms: list[str] = Field(default=["RS256", "ES256", "PS256", "EdDSA"])
    oidc_leeway_seconds: int = Field(default=30, ge=0, le=300)
    oidc_tenant_claim: str = Field(default="tenant", description="Claim naming the tenant.")
    rate_limit_per_second: float = Field(
        default=100.0,
        ge=0,
        description="Requests per second per principal and process; 0: off.",
    )
    rate_limit_burst: int = Field(default=200, ge=1, description="Bucket size per principal.")
    auth_failure_rate_per_second: float = Field(
        default=2.0,
        ge=0,
        description="Failed authentications per second per client address and process; over "
        "it, the address gets 429 without a credential lookup (a key this process has just "
        "seen valid still passes); 0: off.",
    )
    auth_failure_burst: int = Field(
        default=20, ge=1, description="Failed authentications an address may make at once."
    )
    audit_repeat_window_seconds: float = Field(
        default=60.0,
        ge=0,
        description="Repeated failed attempts of an unknown caller (same address, route, "
        "action and status) within this window are one counted audit row after the first; "
        "0: a row each.",
    )
    context_cache_size: int = Field(
        default=512,
        ge=0,
        description="Patients whose context candidates each process keeps (0: no cache).",
    )
    mcp_resource_url: str = Field(
        default="http://127.0.0.1:8000/mcp",
        description="The public URL of the MCP endpoint: the resource its tokens are for, "
        "named in its protected-resource metadata (RFC 9728) and in each 401's "
        "WWW-Authenticate.",
    )
    mcp_authorization_server: str | None = Field(
        default=None,
        description="The authorization server the MCP metadata names (default: the OIDC "
        "issuer, or without one this service, whose operator issues its API keys).",
    )
    mcp_allowed_hosts: list[str] = Field(
        default=[],
        description="Host headers the MCP endpoint answers (DNS-rebinding protection, e.g. "
        '["carelog.example.com", "carelog.example.com:*"]); empty: any.',
    )
    mcp_read_only: bool = Field(
        default=False, description="Offer only the MCP tools that read (no writing tool)."
    )
    mcp_tools: list[str] | None = Field(
        default=None, description="The MCP tools offered, by name (default: every one)."
    )
    feed_heartbeat_seconds: float = Field(
        default=15.0, gt=0, description="A live stream's heartbeat comment, when idle."
    )
    feed_catch_up_seconds: float = Field(
        default=2.0,
        gt=0,
        description="A live stream reads the log at least this often, notified or not.",
    )
    feed_max_streams_per_principal: int = Field(
        default=5, ge=1, description="Live streams one principal may hold open per process."
    )
    feed_batch_size: int = Field(
        default=500, ge=1, le=10_000, description="Events a live stream reads at a time."
    )
    access_log: bool = Field(default=True, description="Log one line per request (no PHI).")
    log_level: str = Field(default="info")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return Settings()
