"""Root conftest: every test in the repository can ask for real NATS, Postgres and Redis
through the fixtures of ``modality.devstack.testing`` (nats_url, redis_url, postgres_url,
database_url)."""

pytest_plugins = ["modality.devstack.testing"]
