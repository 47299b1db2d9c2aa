"""Prefixed random identifiers (``cus_...``, ``key_...``, ``req_...``)."""

from __future__ import annotations

import secrets


def new_id(prefix: str, nbytes: int = 12) -> str:
    return f"{prefix}_{secrets.token_hex(nbytes)}"


def new_request_id() -> str:
    return new_id("req", 12)
