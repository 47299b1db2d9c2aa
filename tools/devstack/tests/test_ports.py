"""Port choice: the preferred port when free, otherwise any free one, never a duplicate."""

from __future__ import annotations

import socket

from modality.devstack.ports import choose_port, free_port, port_is_free


def test_preferred_port_is_used_when_free() -> None:
    port = free_port()
    assert choose_port(port) == port


def test_a_busy_or_already_taken_port_is_replaced() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        assert not port_is_free(busy)
        replacement = choose_port(busy)
        assert replacement != busy and port_is_free(replacement)
    spare = free_port()
    assert choose_port(spare, taken={spare}) != spare
