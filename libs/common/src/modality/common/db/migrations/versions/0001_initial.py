"""Initial schema: customers, api_keys, models, finetune_jobs, evaluations, usage_ledger.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 10)


def _ts(name: str, nullable: bool = False, default: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(
        name,
        sa.DateTime(timezone=True),
        nullable=nullable,
        server_default=sa.func.now() if default else None,
    )


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("routing_policy", sa.String(32), nullable=False),
        sa.Column("routing_alpha", sa.Float(), nullable=False),
        sa.Column("default_model", sa.String(200), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_customers"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("display_prefix", sa.String(16), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        _ts("created_at"),
        _ts("revoked_at", nullable=True, default=False),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_api_keys_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_customer_id", "api_keys", ["customer_id"])
    op.create_table(
        "models",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("provider_model_id", sa.String(300), nullable=False),
        sa.Column("domain", sa.String(200), nullable=True),
        sa.Column("domain_description", sa.Text(), nullable=True),
        sa.Column("domain_embedding", postgresql.ARRAY(postgresql.REAL()), nullable=True),
        sa.Column("embedding_model", sa.String(100), nullable=True),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("input_price_per_m", MONEY, nullable=False),
        sa.Column("output_price_per_m", MONEY, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("supports_tools", sa.Boolean(), nullable=False),
        sa.Column("supports_vision", sa.Boolean(), nullable=False),
        sa.Column("context_window", sa.Integer(), nullable=False),
        sa.Column("complexity_ceiling", sa.Float(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("promoted_at", nullable=True, default=False),
        sa.PrimaryKeyConstraint("id", name="pk_models"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_models_customer_id_customers",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_models_customer_id", "models", ["customer_id"])
    op.create_index(
        "uq_models_customer_name",
        "models",
        ["customer_id", "name"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "finetune_jobs",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("base_model", sa.String(300), nullable=False),
        sa.Column("training_file", sa.String(500), nullable=False),
        sa.Column("provider_job_id", sa.String(200), nullable=True),
        sa.Column("model_id", sa.String(40), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_finetune_jobs"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name="fk_finetune_jobs_customer_id_customers",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_finetune_jobs_model_id_models"
        ),
    )
    op.create_index("ix_finetune_jobs_customer_id", "finetune_jobs", ["customer_id"])
    op.create_table(
        "evaluations",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("model_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("samples", sa.Integer(), nullable=False),
        sa.Column("win_rate", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_evaluations"),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name="fk_evaluations_model_id_models", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_evaluations_model_id", "evaluations", ["model_id"])
    op.create_table(
        "usage_ledger",
        sa.Column("request_id", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(40), nullable=False),
        sa.Column("api_key_id", sa.String(40), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("tier", sa.String(16), nullable=False),
        sa.Column("policy", sa.String(32), nullable=False),
        sa.Column("route_reason", sa.String(64), nullable=False),
        sa.Column("endpoint", sa.String(64), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("cost_usd", MONEY, nullable=False),
        sa.Column("fallback_model", sa.String(200), nullable=False),
        sa.Column("fallback_cost_usd", MONEY, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        _ts("recorded_at"),
        sa.PrimaryKeyConstraint("request_id", name="pk_usage_ledger"),
    )
    op.create_index("ix_usage_ledger_customer_time", "usage_ledger", ["customer_id", "occurred_at"])


def downgrade() -> None:
    for table in (
        "usage_ledger",
        "evaluations",
        "finetune_jobs",
        "models",
        "api_keys",
        "customers",
    ):
        op.drop_table(table)
