"""Control plane (:8001): customers, API keys, models and usage, behind the admin token."""
