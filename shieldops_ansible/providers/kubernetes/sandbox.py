"""The Kubernetes part of the sandbox: the API test server over TLS, seeded, with ServiceAccount tokens and RBAC.

Seeded: namespace `shop` with Deployments `web` (healthy, 2 replicas) and `checkout` (its image crashloops), a
StatefulSet `cache` (2 replicas), a DaemonSet `log-agent`, and two Ready nodes `node-1` and `node-2`. Tokens (as a
kubelet would project them, one file each): `agent` bound to a ClusterRole that may operate workloads and nodes,
`readonly` bound to one that may only read.
"""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ...sandbox.backend import MAIN_PROCESS, Samples, StartedBackend, announce, start_and_wait
from ...sandbox.tls import make_ca_and_server_cert
from .kube_apiserver import KubeApiServer, ready_node

__all__ = ["SAMPLES", "KubernetesSandboxBackend", "start_kubernetes"]

_OPERATOR_RULES = [
    {
        "apiGroups": ["", "apps"],
        "resources": ["*"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {"apiGroups": ["policy"], "resources": ["pods/eviction"], "verbs": ["create"]},
    {"apiGroups": [""], "resources": ["pods/eviction"], "verbs": ["create"]},
]
_READ_RULES = [{"apiGroups": ["", "apps"], "resources": ["*"], "verbs": ["get", "list", "watch"]}]


def _workload(name: str, image: str, replicas: int | None = None) -> dict[str, Any]:
    labels = {"app": name, "tier": "shop"}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": name, "image": image}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


def serve(directory: Path) -> None:
    """Run the server until killed (the sandbox starts this in a process of its own)."""
    base = directory / "kubernetes"
    base.mkdir(parents=True, exist_ok=True)
    _ca, cert, key = make_ca_and_server_cert(base)
    tokens = {"agent": secrets.token_urlsafe(24), "readonly": secrets.token_urlsafe(24)}
    server = KubeApiServer(
        tokens={
            tokens["agent"]: "system:serviceaccount:shieldops:agent",
            tokens["readonly"]: "system:serviceaccount:shieldops:readonly",
        },
        cert=str(cert),
        key=str(key),
    )
    server.create("", "v1", "namespaces", None, {"metadata": {"name": "shop"}})
    server.create("", "v1", "namespaces", None, {"metadata": {"name": "shieldops"}})
    for node in ("node-1", "node-2"):
        server.create("", "v1", "nodes", None, ready_node(node))
    server.create("apps", "v1", "deployments", "shop", _workload("web", "example/web:1.0", 2))
    server.create("apps", "v1", "deployments", "shop", _workload("checkout", "example/checkout-crash:2.1", 2))
    server.create("apps", "v1", "statefulsets", "shop", _workload("cache", "example/cache:7.2", 2))
    server.create("apps", "v1", "daemonsets", "shop", _workload("log-agent", "example/log-agent:1.4"))
    for role, rules in (("shieldops-operator", _OPERATOR_RULES), ("shieldops-reader", _READ_RULES)):
        server.create(
            "rbac.authorization.k8s.io", "v1", "clusterroles", None, {"metadata": {"name": role}, "rules": rules}
        )
    for account, role in (("agent", "shieldops-operator"), ("readonly", "shieldops-reader")):
        server.create(
            "rbac.authorization.k8s.io",
            "v1",
            "clusterrolebindings",
            None,
            {
                "metadata": {"name": f"{account}-{role}"},
                "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "shieldops"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
            },
        )
    for account, token in tokens.items():
        path = base / f"{account}.token"
        path.touch(mode=0o600)
        path.write_text(token)
    server.start()
    announce(base / "server.json", {"port": server.port})
    while True:
        time.sleep(3600)


def start_kubernetes(directory: Path, log_file: Path) -> tuple[int, dict[str, Any]]:
    """Start the server process; return its pid and the environment settings that reach it."""
    base = directory / "kubernetes"
    module = "shieldops_ansible.providers.kubernetes.sandbox"
    pid, ready = start_and_wait(module, directory, base / "server.json", "the Kubernetes API test server", log_file)
    port = ready["port"]
    env = {
        "provider": "kubernetes",
        "server": f"https://127.0.0.1:{port}",
        "ca_file": str(base / "ca.pem"),
        "token_file": str(base / "agent.token"),
        "cluster_name": "sandbox",
    }
    return pid, env


# The `kubernetes` environment's samples: node node-1, Deployment web of shop (2 replicas).
SAMPLES: Samples = {
    "instance": "node/node-1",
    "service": "deployment/shop/web",
    "missing": "deployment/shop/nope",
    "dry_run_action": {"type": "kubernetes_cordon", "resource_id": "node/node-1", "parameters": {}},
    "live_action": {"type": "restart", "resource_id": "deployment/shop/web", "parameters": {}},
    "repeatable_action": {"type": "scale", "resource_id": "deployment/shop/web", "parameters": {"replicas": 2}},
    "secret_env": ["K8S_AUTH_API_KEY"],
    "secret_files": ["kubernetes/agent.token"],
}


class KubernetesSandboxBackend:
    """The API test server over TLS, seeded; environments `kubernetes` (the agent account) and
    `kubernetes-readonly`."""

    name = "kubernetes"
    sampled_environments = ("kubernetes",)

    def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
        pid, env = start_kubernetes(directory, directory / "logs" / "kubernetes.log")
        log(f"kubernetes: API server on {env['server']}")
        readonly = env | {"token_file": str(directory / "kubernetes" / "readonly.token")}
        return StartedBackend(
            processes={MAIN_PROCESS: {"pid": pid}},
            environments={"kubernetes": env, "kubernetes-readonly": readonly},
            samples={"kubernetes": SAMPLES},
        )

    def stop(self, state: Mapping[str, Any]) -> None:
        """Nothing outlives the server's process."""


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
