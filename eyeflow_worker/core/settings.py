"""The one Settings object: every knob of the fleet, read from the environment (or `.env`).

Nothing else in the code reads `os.environ`; each process loads its `Settings` once at start-up
(`load_settings()`) and passes it down, so tests can build one with overrides. A bad value —
JSON-valued ones included — stops the process at start-up with a message naming the variable.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeFloat,
    SecretStr,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from eyeflow_worker.core.settings_values import check_webhook_secret, json_object

# Values that mean "somebody copied the example file and never filled it in".
_PLACEHOLDERS = {"changeme", "change-me", "secret", "example", "your-secret-here"}


class FallbackCredentials(BaseModel):
    """The fleet's own credentials for one fallback provider (`LLM_FALLBACK_CREDENTIALS`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr | None = None
    api_url: str | None = None
    model: str | None = None


class ModelPrice(BaseModel):
    """USD per million tokens for one model (`LLM_PRICE_OVERRIDES`); cache prices default to the
    input price."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input: NonNegativeFloat
    output: NonNegativeFloat
    cache_read: NonNegativeFloat | None = None
    cache_write: NonNegativeFloat | None = None


RequestsPerMinute = Annotated[StrictInt, Field(ge=0)]


class SettingsInvalid(SystemExit):
    """The environment holds a value the fleet cannot start with; the message names it. A
    `SystemExit`: the process stops at start-up with that message, not a traceback."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    environment: Literal["dev", "test", "production"] = "dev"
    log_level: str = "INFO"
    # `json`: one JSON object per line, with the job's task_id/tenant/kind/attempt on its lines.
    log_format: Literal["text", "json"] = "text"

    # --- Redis / Celery -------------------------------------------------------------------
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Broker and result backend default to REDIS_URL; they may point elsewhere.
    broker_url: str | None = None
    result_backend_url: str | None = None
    queue_interactive: str = "eyeflow.interactive"
    queue_batch: str = "eyeflow.batch"
    queue_webhooks: str = "eyeflow.webhooks"
    queue_maintenance: str = "eyeflow.maintenance"
    # Seconds a message may stay un-acked before Redis redelivers it to another worker.
    visibility_timeout_seconds: int = 3600
    # Hard ceiling for one job; a soft limit fires a little earlier so we can record `timeout`.
    task_time_limit_seconds: int = 1800
    task_soft_time_limit_seconds: int = 1740
    # A running job's (and an economy poll's or submit's) lease: renewed every third of it while
    # the work runs; a worker that dies gives its work back this long after, not at the time
    # limit or the visibility timeout.
    lease_seconds: float = Field(default=30.0, ge=3.0, le=300.0)
    # How long task records, results and batch items are kept.
    task_record_ttl_seconds: int = 7 * 24 * 3600
    worker_concurrency_interactive: int = 16
    worker_concurrency_batch: int = 32
    # CPU priority of batch workers (added to their nice value): on a host they share with the
    # gateway and interactive workers, batch work then takes only the CPU interactive jobs leave.
    worker_nice_batch: int = Field(default=10, ge=0, le=19)
    redis_socket_timeout_seconds: float = 5.0
    redis_connect_timeout_seconds: float = 2.0

    # --- broker (RabbitMQ) ---
    # With BROKER_URL=amqp://… the fleet's queues are declared with this type: `quorum`
    # (replicated, survives a broker node; RabbitMQ ≥ 3.8) or `classic` (a single-node dev broker).
    broker_queue_type: Literal["quorum", "classic"] = "quorum"
    # AMQP heartbeat: a worker host that vanishes without closing its connection (power, network)
    # is noticed within about two of these, and its unacked messages are delivered again.
    broker_heartbeat_seconds: float = Field(default=30.0, ge=0)
    # A graceful stop (SIGTERM with REMAP_SIGTERM=SIGQUIT, as docker-compose and `make up` run
    # the workers) gives running jobs this long to finish, then hands the messages of those still
    # running back to the broker, so another worker starts them at once.
    worker_soft_shutdown_seconds: float = Field(default=20.0, ge=0)

    # --- Gateway ------------------------------------------------------------------------------
    gateway_api_token: SecretStr | None = None
    max_body_bytes: int = 5 * 1024 * 1024
    max_batch_intents: int = 5000
    # How long a batch may keep re-trying items that fail for a transient reason (provider down,
    # rate limited, NestJS unreachable) before they fail; a submission's `deadline` overrides it.
    batch_deadline_seconds: float = Field(default=8 * 3600, gt=0)
    # Fair shares: batch items are admitted to the batch queue round-robin across tenants (and
    # across one tenant's batches); at most this many of one tenant's items are in flight
    # (queued or running) at once, and at most `batch_max_in_flight` of all tenants'.
    batch_tenant_max_in_flight: int = Field(default=64, gt=0)
    batch_max_in_flight: int = Field(default=256, gt=0)
    # `mode` of a batch submission that gives none: realtime (one call per item), economy (the
    # provider's own batch API, half the price, done within 24 h) or auto (economy when the
    # tenant's provider has a batch API and the batch has at least `batch_api_min_items` items).
    batch_default_mode: Literal["realtime", "economy", "auto"] = "realtime"
    batch_api_min_items: int = Field(default=50, ge=1)
    # An aggregated context (capability catalogue) larger than this is refused: inline with 422,
    # fetched from NestJS with config_invalid. It is rendered into every prompt, so a catalogue
    # this size already costs ~250k tokens per call.
    max_catalogue_bytes: int = Field(default=1024 * 1024, gt=0)
    idempotency_ttl_seconds: int = 24 * 3600
    # `?wait` holds a thread per request; past this many at once, waits answer at once instead
    # of starving every other request of threads.
    max_concurrent_waits: int = 100

    # --- NestJS ---------------------------------------------------------------------------------
    nestjs_server_url: str | None = None
    nestjs_service_token: SecretStr | None = None
    nestjs_context_path: str = "/api/capabilities/aggregated"
    nestjs_timeout_seconds: float = 5.0
    nestjs_max_attempts: int = 3
    config_fetch_interval_minutes: float = 60.0
    # Encrypts API keys at rest in Redis (Fernet key). Required outside dev.
    cache_encryption_key: SecretStr | None = None

    # --- LLM configuration used when NESTJS_SERVER_URL is unset ---------------------------------
    llm_provider: str = "offline"
    llm_model: str = "eyeflow-offline-drafter-1"
    llm_temperature: float = Field(default=0.3, ge=0, le=2)
    llm_max_tokens: int = 4096
    llm_api_key: SecretStr | None = None
    llm_api_url: str | None = None
    # Comma-separated providers tried in order after the configured one fails.
    llm_fallback_providers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Fleet-level credentials for fallback providers that need them, as JSON:
    # {"openai": {"api_key": "sk-...", "api_url": null, "model": "gpt-4.1-mini"}}.
    llm_fallback_credentials: Annotated[dict[str, FallbackCredentials], NoDecode] = Field(
        default_factory=dict
    )
    llm_request_timeout_seconds: float = 120.0
    llm_max_attempts: int = 4
    llm_retry_max_total_seconds: float = 300.0
    llm_retry_base_delay_seconds: float = 1.0
    llm_retry_max_delay_seconds: float = 60.0
    # JSON {"model": {"input": usd_per_mtok, "output": ...}} merged over the built-in price table.
    llm_price_overrides: Annotated[dict[str, ModelPrice], NoDecode] = Field(default_factory=dict)
    # Fleet-wide request budget per provider account (requests/minute, 0 = unlimited), and
    # per-provider overrides as JSON, e.g. {"anthropic": 50, "openai": 500}.
    llm_rate_limit_rpm: int = 0
    llm_rate_limits: Annotated[dict[str, RequestsPerMinute], NoDecode] = Field(default_factory=dict)
    # Limits learned from the providers' rate-limit headers and 429s are always on; these caps
    # above stay upper bounds. An account that sends no headers is paced adaptively.
    llm_rate_learning: bool = True
    rules_max_repair_attempts: int = 3
    condition_llm_fallback: bool = True

    # --- Webhooks -------------------------------------------------------------------------------
    webhook_secret: SecretStr | None = None
    # Internal webhook receivers the fleet may call (entries as for LLM_ALLOWED_API_HOSTS,
    # below); any host at public addresses needs none. None by default.
    webhook_allowed_hosts: Annotated[list[str], NoDecode] = Field(default_factory=list)
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 8
    webhook_retry_window_seconds: float = 3600.0
    webhook_backoff_base_seconds: float = 2.0

    # --- egress ---
    # Hosts a tenant's LLM `apiUrl` may name at any address, internal too (`core/egress.py`):
    # `host` or `host:port` (`ollama:11434`, `10.0.0.7`, `[fd00::7]:8080`); any other host must
    # resolve to public addresses only. The hosts of LLM_API_URL and LLM_FALLBACK_CREDENTIALS (the
    # operator's own) count as listed. A local Ollama or llama.cpp tenants name must be listed.
    llm_allowed_api_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["api.anthropic.com", "api.openai.com"]
    )

    @field_validator("llm_allowed_api_hosts", mode="before")
    @classmethod
    def _split_allowed_hosts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("llm_allowed_api_hosts", "webhook_allowed_hosts", mode="after")
    @classmethod
    def _allowed_hosts_read(cls, value: list[str]) -> list[str]:
        # A malformed entry stops the process at start-up, not the first call it would govern.
        # Imported here: settings, which every module imports, itself imports nothing of ours.
        from eyeflow_worker.core.egress import EgressPolicy

        EgressPolicy.parse("", value)
        return value

    # --- health ---
    # /health's own Redis connections (the broker's queues, the fleet's health records) give up
    # after this long, to connect and to read, without retrying: a dead or stuck Redis makes
    # /health answer `unhealthy` at once, never hold the request (or a gateway thread).
    health_redis_timeout_seconds: float = Field(default=0.1, gt=0, le=5)
    # Workers online come from a Celery ping cached in Redis; a /health that finds it older than
    # this starts one new ping in the background (one at a time across every gateway) and
    # answers from the cache meanwhile, with its age.
    health_worker_ping_max_age_seconds: float = Field(default=5.0, gt=0)
    # How long that background ping collects replies: a busy worker on a loaded host can take
    # longer than half a second to answer.
    health_worker_ping_timeout_seconds: float = Field(default=1.0, gt=0, le=30)

    # --- input limits ---
    # A submission's body is measured on its raw text before it is parsed (`core/json_bounds.py`):
    # parsing is what costs (a 1 MiB body of empty lists took ~64 MB). At most this many JSON
    # values in the whole body (every object, list, string, number, true/false/null; keys are not
    # counted), nested at most `max_json_depth` levels inside any one field. The depth cannot go
    # above 32: the catalogue reader and the prompt builder recurse.
    max_json_elements: int = Field(default=100_000, ge=10)
    max_json_depth: int = Field(default=32, ge=2, le=32)
    # Submissions per tenant, shared by every gateway (a token bucket in Redis): sustained per
    # minute, and how many may come at once. 0 turns the limit off. A batch counts as one
    # submission, whatever its size (fair admission paces its items). The default only stops a
    # runaway client; set what a tenant needs.
    tenant_submit_rate_per_minute: float = Field(default=6000.0, ge=0)
    tenant_submit_burst: int = Field(default=1000, ge=1)

    # --- auth ---
    # Who calls as whom: api_gateway/auth.py; read and checked at start-up: core/auth_settings.py.
    operator_api_token: SecretStr | None = None
    gateway_jwt_secret: SecretStr | None = None
    gateway_jwt_public_key: str | None = None
    gateway_jwt_audience: str | None = None
    gateway_jwt_issuer: str | None = None
    gateway_jwt_max_ttl_seconds: float = Field(default=3600.0, gt=0)
    gateway_require_jwt: bool = False

    @model_validator(mode="before")
    @classmethod
    def _auth_blank_is_unset(cls, data: Any) -> Any:
        from eyeflow_worker.core.auth_settings import blank_is_unset

        return blank_is_unset(data)

    @model_validator(mode="after")
    def _auth_usable(self) -> Settings:
        from eyeflow_worker.core.auth_settings import check_auth

        return check_auth(self)

    @field_validator(
        "gateway_api_token",
        "webhook_secret",
        "cache_encryption_key",
        "nestjs_service_token",
        "llm_api_key",
        "nestjs_server_url",
        "llm_api_url",
        "broker_url",
        "result_backend_url",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        # `VAR=` (docker-compose's `${VAR:-}`) means "not set", never "set to the empty string".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("webhook_allowed_hosts", "llm_fallback_providers", mode="before")
    @classmethod
    def _split_csv(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator(
        "llm_fallback_credentials", "llm_price_overrides", "llm_rate_limits", mode="before"
    )
    @classmethod
    def _json_object(cls, value: object) -> object:
        # Held as JSON in the environment; parsed here, once (`settings_values.json_object`).
        return json_object(value)

    @field_validator("llm_fallback_credentials", "llm_rate_limits", mode="after")
    @classmethod
    def _provider_names_lowercase(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {name.lower(): entry for name, entry in value.items()}

    @model_validator(mode="after")
    def _refuse_missing_secrets_outside_dev(self) -> Settings:
        """Only `dev` runs on the built-in fallbacks (a fixed webhook secret, a cache key
        derived from a public constant, the gateway open). Production needs all three secrets;
        `test` the two whose fallbacks are public (its gateway may run open, with a warning).
        Every missing one is named at once."""
        if self.environment == "dev":
            return self
        required = {
            "WEBHOOK_SECRET": self.webhook_secret,
            "CACHE_ENCRYPTION_KEY": self.cache_encryption_key,
        }
        if self.environment == "production":
            required["GATEWAY_API_TOKEN"] = self.gateway_api_token
        missing = [
            name
            for name, secret in required.items()
            if secret is None or secret.get_secret_value().strip().lower() in _PLACEHOLDERS
        ]
        if missing:
            raise ValueError(
                f"{', '.join(missing)} must be set to a real secret when "
                f"ENVIRONMENT={self.environment} (only ENVIRONMENT=dev runs without)"
            )
        return self

    @field_validator("webhook_secret", mode="after")
    @classmethod
    def _webhook_secret_decodes(cls, value: SecretStr | None) -> SecretStr | None:
        """A `whsec_` secret is base64 (Standard Webhooks): one that does not decode is refused
        at start-up, not at the first webhook (which would then never be delivered)."""
        if value is not None:
            check_webhook_secret(value.get_secret_value())
        return value

    @property
    def effective_broker_url(self) -> str:
        return self.broker_url or self.redis_url

    @property
    def effective_result_backend_url(self) -> str:
        return self.result_backend_url or self.redis_url

    @property
    def config_refresh_interval_seconds(self) -> float:
        """How often beat refreshes tenant configs: a quarter of the TTL (at least 30 s), so an
        entry is refreshed well before it expires."""
        return max(30.0, self.config_fetch_interval_minutes * 60.0 / 4)

    @property
    def webhook_signing_secret(self) -> str:
        """The Standard Webhooks secret; a fixed dev value is used only outside production."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        return "eyeflow-dev-webhook-secret"


@lru_cache(maxsize=1)
def load_settings() -> Settings:
    """This process's settings from the environment (and `.env`), read once.

    Raises `SettingsInvalid` naming each variable that is wrong (e.g. `LLM_RATE_LIMITS: not valid
    JSON`), never a traceback about a field deep inside a job."""
    try:
        return Settings()
    except ValidationError as invalid:
        problems = "; ".join(
            f"{_variable(error['loc'])}: {error['msg']}" for error in invalid.errors()
        )
        raise SettingsInvalid(f"invalid configuration: {problems}") from None
    except SettingsError as exc:
        raise SettingsInvalid(f"invalid configuration: {exc}") from None


def _variable(loc: tuple[int | str, ...]) -> str:
    if not loc:
        return "(settings)"
    name, *inner = (str(part) for part in loc)
    return ".".join([name.upper(), *inner])
