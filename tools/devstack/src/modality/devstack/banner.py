"""What ``modality-stack run`` prints once everything is healthy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from modality.devstack.ports import LOOPBACK


class _Service(Protocol):
    @property
    def ports(self) -> Mapping[str, int]: ...


def render(
    *,
    services: Mapping[str, _Service],
    urls: Mapping[str, str],
    admin_token: str,
    logs: Path,
) -> str:
    lines = ["", "Modality is up.", ""]
    for name, svc in services.items():
        ports = ", ".join(f"http://{LOOPBACK}:{port}" for port in svc.ports.values())
        lines.append(f"  {name:<12} {ports}")
    for name in ("nats", "postgres", "redis"):
        lines.append(f"  {name:<12} {urls[name]}")
    lines += [f"  {'logs':<12} {logs}/", f"  {'admin token':<12} {admin_token}", ""]
    if "simulator" in services:
        lines += [
            "  No MODALITY_OPENAI_API_KEY: the provider simulator stands in for the fallback",
            "  model (set the key to use OpenAI).",
            "",
        ]
    if not services:
        lines += ["Environment for services you start yourself:"]
        lines += [f"  export {var}={value}" for var, value in _infra_env(urls, admin_token).items()]
        lines.append("")
    gateway = services.get("gateway")
    if gateway is not None:
        lines += _howto(gateway.ports, admin_token)
    lines += ["Ctrl-C stops everything.", ""]
    return "\n".join(lines)


def _infra_env(urls: Mapping[str, str], admin_token: str) -> dict[str, str]:
    return {
        "MODALITY_NATS_URL": urls["nats"],
        "MODALITY_DATABASE_URL": urls["postgres"],
        "MODALITY_REDIS_URL": urls["redis"],
        "MODALITY_ADMIN_TOKEN": admin_token,
    }


def _howto(ports: Mapping[str, int], admin_token: str) -> Sequence[str]:
    data = ports.get("MODALITY_GATEWAY_PORT", 8000)
    control = ports.get("MODALITY_GATEWAY_CONTROL_PORT", 8001)
    control_url = f"http://{LOOPBACK}:{control}"
    return [
        "Create a customer, then an API key for it (the control plane takes the admin token):",
        f"  export MODALITY_ADMIN_TOKEN={admin_token}",
        f"  curl -s -X POST {control_url}/customers \\",
        '       -H "Authorization: Bearer $MODALITY_ADMIN_TOKEN" \\',
        "       -H 'Content-Type: application/json' -d '{\"name\": \"acme\"}'",
        f"  curl -s -X POST {control_url}/customers/<customer id>/api-keys \\",
        '       -H "Authorization: Bearer $MODALITY_ADMIN_TOKEN"',
        "",
        "Then call the gateway with the key (mod_...) from any OpenAI client:",
        "  from openai import OpenAI",
        f'  client = OpenAI(base_url="http://{LOOPBACK}:{data}/v1", api_key="mod_...")',
        '  reply = client.chat.completions.create(model="auto",',
        '      messages=[{"role": "user", "content": "Summarise this contract clause: ..."}])',
        "  print(reply.choices[0].message.content)",
        "",
    ]
