"""Data plane (:8000): the OpenAI-compatible proxy customers call with ``mod_...`` keys."""
