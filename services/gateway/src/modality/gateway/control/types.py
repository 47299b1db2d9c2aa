"""The I/O the control-plane service is given (so its logic tests need no network)."""

from __future__ import annotations

from typing import Protocol

from modality.common.events import Event


class EventPublisher(Protocol):
    """Publishes a fact durably (JetStream); raises ``ServiceUnavailableError`` if it cannot."""

    async def publish(self, subject: str, event: Event) -> None: ...


class KeyCache(Protocol):
    """The shared API-key cache; ``forget`` drops a key's entry (Redis DEL)."""

    async def forget(self, key_hash: str) -> None: ...
