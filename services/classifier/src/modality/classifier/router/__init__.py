"""The router worker: ``route.decide`` over NATS, the model registry cache, routing policies."""
