"""Gateway settings (env prefix ``MODALITY_GATEWAY_``; shared names keep ``MODALITY_``)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

from modality.common.pricing import default_price
from modality.common.settings import InfraSettings, require_real_secret


class GatewaySettings(InfraSettings):
    model_config = SettingsConfigDict(
        env_prefix="MODALITY_GATEWAY_", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = 8000
    control_port: int = 8001
    workers: int = Field(
        1, ge=1, description="Data-plane processes sharing the port (SO_REUSEPORT)."
    )

    admin_token: str = Field(
        "", validation_alias=AliasChoices("MODALITY_ADMIN_TOKEN", "admin_token")
    )

    # The large model every request can fall back to.
    fallback_model: str = "gpt-4o"
    fallback_provider: str = "openai"
    fallback_base_url: str = "https://api.openai.com/v1"
    fallback_input_price_per_m: float | None = None
    fallback_output_price_per_m: float | None = None

    openai_api_key: str = Field(
        "", validation_alias=AliasChoices("MODALITY_OPENAI_API_KEY", "openai_api_key")
    )
    fireworks_api_key: str = Field(
        "", validation_alias=AliasChoices("MODALITY_FIREWORKS_API_KEY", "fireworks_api_key")
    )

    router_timeout_ms: float = Field(50.0, gt=0, description="Budget for a route.decide reply.")
    router_prompt_max_chars: int = 4000
    upstream_connect_timeout_s: float = 5.0
    upstream_timeout_s: float = 600.0
    max_body_bytes: int = 4 * 1024 * 1024

    upstream_max_connections: int = Field(
        1024, ge=1, description="Pooled connections per data-plane process."
    )

    key_cache_ttl_s: float = Field(
        1.0, gt=0, le=1.0, description="Revocation reaches every replica within this."
    )
    key_cache_max_entries: int = Field(100_000, ge=1)
    usage_batch_max: int = Field(
        256, ge=1, description="Usage events in flight to JetStream at once."
    )
    usage_flush_interval_ms: float = 20.0
    usage_buffer_max: int = Field(
        20_000, ge=1, description="Usage events waiting; when full, handlers wait."
    )
    usage_publish_timeout_s: float = Field(5.0, gt=0)
    usage_shutdown_timeout_s: float = Field(10.0, gt=0, description="Flush budget at shutdown.")

    catalog_refresh_interval_s: float = Field(
        30.0, gt=0, description="Safety-net reload of models."
    )
    health_probe_interval_s: float = Field(
        5.0, gt=0, description="Upstream reachability probe period."
    )
    health_probe_timeout_s: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _validate(self) -> GatewaySettings:
        require_real_secret(self.env, "MODALITY_ADMIN_TOKEN", self.admin_token)
        price = default_price(self.fallback_model)
        if self.fallback_input_price_per_m is None:
            self.fallback_input_price_per_m = price.input_per_m if price else 0.0
        if self.fallback_output_price_per_m is None:
            self.fallback_output_price_per_m = price.output_per_m if price else 0.0
        return self
