"""Offline checks of the Helm chart in deploy/k8s/modality (no cluster needed).

    python deploy/k8s/check_chart.py

Always: Chart.yaml and values.yaml parse as YAML, the Grafana dashboard parses as JSON
and queries only metric names listed in deploy/k8s/README.md (plus the exporters' ones
named below).

When the Helm library for Python is importable (``pip install helm-python-sdk``, which
embeds Helm's Go code, into a throwaway venv; PyYAML is needed too): ``helm lint
--strict`` and a render of several value sets, each manifest parsed, and cross-checks
that ``helm lint`` does not make: probes and Services point at declared container
ports, Services and ServiceMonitors select an existing pod template, every env var taken
from the chart's Secret is a key of that Secret, HPAs target Deployments.

Exit status 1 when a check fails; 0 otherwise, with a line saying what was skipped.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
CHART = HERE / "modality"
README = HERE / "README.md"
# Series other exporters provide; the dashboard may use them next to ours.
FOREIGN_METRICS = {"jetstream_consumer_num_pending"}
PROMQL_WORDS = {
    "sum", "by", "rate", "increase", "histogram_quantile", "topk", "le", "without", "avg",
    "max", "min", "count", "on", "ignoring", "group_left", "group_right", "and", "or",
    "unless",
}  # fmt: skip

SECRETS = {
    "adminToken": "a" * 40,
    "databaseUrl": "postgresql://modality:pw@postgres:5432/modality",
    "redisUrl": "redis://:pw@redis:6379/0",
    "classifierJwtSecret": "j" * 40,
    "openaiApiKey": "sk-test",
}
VALUE_SETS: dict[str, dict[str, Any]] = {
    "defaults+secrets": {"secrets": SECRETS},
    "everything-on": {
        "secrets": SECRETS,
        "simulator": {"enabled": True},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "triton": {"modelRepository": {"source": "pvc", "existingClaim": "triton-models"}},
        "config": {"extra": {"MODALITY_GATEWAY_KEY_CACHE_TTL_S": 1}},
    },
    "existing-secret,cpu-only,no-hpa": {
        "secrets": {"existingSecret": "modality-secrets"},
        "triton": {"gpus": 0},
        "gateway": {"autoscaling": {"enabled": False}, "podDisruptionBudget": {"enabled": False}},
        "classifier": {"autoscaling": {"enabled": False}},
    },
    "onnx-backend,no-triton": {
        "secrets": SECRETS,
        "classifier": {"backend": "onnx"},
        "triton": {"enabled": False},
    },
}
# Value sets the chart must refuse, with a fragment of the expected message.
MUST_FAIL: dict[str, tuple[dict[str, Any], str]] = {
    "missing-secrets": ({}, "secrets.adminToken is required"),
    "triton-backend-without-triton": (
        {"secrets": SECRETS, "triton": {"enabled": False}},
        "classifier.backend=triton needs triton.enabled=true",
    ),
    "non-modality-extra": (
        {"secrets": SECRETS, "config": {"extra": {"PATH": "/x"}}},
        "only MODALITY_* settings",
    ),
}


class CheckFailed(Exception):
    pass


def check_static() -> None:
    yaml.safe_load((CHART / "Chart.yaml").read_text())
    yaml.safe_load((CHART / "values.yaml").read_text())
    contract = set(re.findall(r"`(modality_[a-z_]+)", README.read_text()))
    for path in sorted((CHART / "dashboards").glob("*.json")):
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                for name in metric_names(target["expr"]):
                    if name not in contract and name not in FOREIGN_METRICS:
                        raise CheckFailed(
                            f"{path.name}: panel {panel['title']!r} uses {name}, "
                            "which deploy/k8s/README.md does not list"
                        )


def metric_names(expr: str) -> Iterator[str]:
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    for word in re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if word in PROMQL_WORDS or word.startswith("__"):
            continue
        if word.startswith(("modality_", "jetstream_")):
            yield re.sub(r"_(bucket|sum|count)$", "", word)


def manifests(rendered: dict[str, str]) -> list[dict[str, Any]]:
    docs = []
    for template, text in rendered.items():
        if template.endswith("NOTES.txt"):
            continue
        for doc in yaml.safe_load_all(text):
            if doc is None:
                continue
            for key in ("apiVersion", "kind", "metadata"):
                if key not in doc:
                    raise CheckFailed(f"{template}: a document has no {key}")
            docs.append(doc)
    return docs


def check_rendered(label: str, docs: list[dict[str, Any]]) -> None:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    names: set[tuple[str, str]] = set()
    for doc in docs:
        key = (doc["kind"], doc["metadata"]["name"])
        if key in names:
            raise CheckFailed(f"{label}: duplicate {key}")
        names.add(key)
        by_kind.setdefault(doc["kind"], []).append(doc)

    pods = [(d["metadata"]["name"], d["spec"]["template"]) for d in by_kind.get("Deployment", [])]
    secret_keys: dict[str, set[str]] = {
        s["metadata"]["name"]: set(s.get("stringData", {})) | set(s.get("data", {}))
        for s in by_kind.get("Secret", [])
    }

    def selected(selector: dict[str, str]) -> list[dict[str, Any]]:
        return [
            t
            for _, t in pods
            if all(t["metadata"]["labels"].get(k) == v for k, v in selector.items())
        ]

    for name, template in pods:
        for container in template["spec"].get("containers", []):
            ports = {p["name"] for p in container.get("ports", [])}
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                port = container.get(probe, {}).get("httpGet", {}).get("port")
                if port is not None and port not in ports:
                    raise CheckFailed(f"{label}: {name} {probe} uses undeclared port {port}")
        for container in template["spec"].get("containers", []) + template["spec"].get(
            "initContainers", []
        ):
            for env in container.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref and ref["name"] in secret_keys and not ref.get("optional"):
                    if ref["key"] not in secret_keys[ref["name"]]:
                        raise CheckFailed(f"{label}: {name} needs {ref['key']} from {ref['name']}")
    for svc in by_kind.get("Service", []):
        targets = selected(svc["spec"]["selector"])
        if not targets:
            raise CheckFailed(f"{label}: Service {svc['metadata']['name']} selects no pods")
        declared = {p["name"] for t in targets for c in t["spec"]["containers"] for p in c["ports"]}
        for port in svc["spec"]["ports"]:
            if port["targetPort"] not in declared:
                raise CheckFailed(f"{label}: Service {svc['metadata']['name']} port {port}")
    services = by_kind.get("Service", [])
    for sm in by_kind.get("ServiceMonitor", []):
        match = sm["spec"]["selector"]["matchLabels"]
        svc_ports = {
            p["name"]
            for s in services
            if all(s["metadata"]["labels"].get(k) == v for k, v in match.items())
            for p in s["spec"]["ports"]
        }
        for endpoint in sm["spec"]["endpoints"]:
            if endpoint["port"] not in svc_ports:
                raise CheckFailed(f"{label}: ServiceMonitor {sm['metadata']['name']} {endpoint}")
    deployments = {d["metadata"]["name"] for d in by_kind.get("Deployment", [])}
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        if hpa["spec"]["scaleTargetRef"]["name"] not in deployments:
            raise CheckFailed(f"{label}: HPA {hpa['metadata']['name']} targets nothing")
        ref = hpa["spec"]["scaleTargetRef"]["name"]
        target = next(d for d in by_kind["Deployment"] if d["metadata"]["name"] == ref)
        if "replicas" in target["spec"]:
            raise CheckFailed(f"{label}: {target['metadata']['name']} sets replicas under an HPA")
    for pdb in by_kind.get("PodDisruptionBudget", []):
        if not selected(pdb["spec"]["selector"]["matchLabels"]):
            raise CheckFailed(f"{label}: PDB {pdb['metadata']['name']} selects no pods")
    for cm in by_kind.get("ConfigMap", []):
        for key, value in cm.get("data", {}).items():
            if key.endswith(".json"):
                json.loads(value)


def check_with_helm() -> bool:
    try:
        import helm_python as helm
    except ImportError:
        return False
    report = helm.lint(str(CHART), VALUE_SETS["defaults+secrets"], strict=True)
    errors = [m for m in report["messages"] if m["severity"] >= 2] + report.get("errors", [])
    # "icon is recommended" is severity 1 (info); anything warning or above fails.
    if errors:
        raise CheckFailed(f"helm lint: {errors}")
    chart = helm.Chart.load(str(CHART))
    for label, values in VALUE_SETS.items():
        docs = manifests(chart.render(values, name="prod", namespace="modality", is_install=True))
        check_rendered(label, docs)
        kinds: dict[str, int] = {}
        for doc in docs:
            kinds[doc["kind"]] = kinds.get(doc["kind"], 0) + 1
        print(f"ok   render {label}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    for label, (values, message) in MUST_FAIL.items():
        try:
            chart.render(values, name="prod", namespace="modality", is_install=True)
        except Exception as exc:
            if message not in str(exc):
                raise CheckFailed(f"{label}: failed for another reason: {exc}") from exc
            print(f"ok   refuses {label}")
        else:
            raise CheckFailed(f"{label}: rendered, expected a failure mentioning {message!r}")
    return True


def main() -> int:
    try:
        check_static()
        print("ok   Chart.yaml, values.yaml, dashboards (metric names vs README contract)")
        if check_with_helm():
            print("ok   helm lint --strict and renders")
        else:
            print(
                "SKIP templates not rendered: the Helm library is not importable here "
                "(pip install helm-python-sdk in a throwaway venv, or run `helm lint` and "
                "`helm template` with the helm CLI)"
            )
    except CheckFailed as exc:
        print(f"FAIL {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
