"""The Kubernetes API test server answers the unmodified kubernetes.core modules over TLS, RBAC included.

Groundwork for the Kubernetes provider (issue 4): these tests drive kubernetes.core through ansible-playbook
against the server, the way the provider's role will.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible.paths import project_dir
from shieldops_ansible.providers.kubernetes.kube_apiserver import KubeApiServer, ready_node
from shieldops_ansible.sandbox.tls import make_ca_and_server_cert
from tests.support import run_local_play

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeApiServer, Path]]:
    directory = tmp_path_factory.mktemp("kube")
    ca, cert, key = make_ca_and_server_cert(directory)
    server = KubeApiServer(
        tokens={"admin-token": "admin", "agent-token": "system:serviceaccount:default:agent"},
        cert=str(cert),
        key=str(key),
    ).start()
    server.create("", "v1", "nodes", None, ready_node("node-a"))
    try:
        yield server, ca
    finally:
        server.stop()


def _kubeconfig(server: KubeApiServer, ca: Path, token: str, path: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "test",
                "clusters": [
                    {
                        "name": "test",
                        "cluster": {"server": f"https://127.0.0.1:{server.port}", "certificate-authority": str(ca)},
                    }
                ],
                "users": [{"name": "user", "user": {"token": token}}],
                "contexts": [{"name": "test", "context": {"cluster": "test", "user": "user", "namespace": "default"}}],
            }
        )
    )
    return path


def _play(kubeconfig: Path, tasks: list[dict[str, Any]], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    play = {
        "module_defaults": {"group/kubernetes.core.k8s": {"kubeconfig": str(kubeconfig)}},
        "environment": {"K8S_AUTH_KUBECONFIG": str(kubeconfig)},
        "tasks": tasks,
    }
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(project_dir() / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
    }
    result: subprocess.CompletedProcess[str] = run_local_play(play, tmp_path, env)
    return result


DEPLOYMENT = {
    "api_version": "apps/v1",
    "kind": "Deployment",
    "name": "web",
    "namespace": "default",
    "definition": {
        "metadata": {"labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    },
}


def test_crud_scale_patch_and_rollback(cluster: tuple[KubeApiServer, Path], tmp_path: Path) -> None:
    server, ca = cluster
    kubeconfig = _kubeconfig(server, ca, "admin-token", tmp_path / "kubeconfig")
    tasks = [
        {"kubernetes.core.k8s": DEPLOYMENT},
        {
            "kubernetes.core.k8s_scale": {
                "api_version": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "namespace": "default",
                "replicas": 3,
                "wait": False,
            }
        },
        {
            "kubernetes.core.k8s": {
                **{k: v for k, v in DEPLOYMENT.items() if k != "definition"},
                "state": "patched",
                "definition": {
                    "spec": {"template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.26"}]}}}
                },
            }
        },
        {
            "kubernetes.core.k8s_rollback": {
                "api_version": "apps/v1",
                "kind": "Deployment",
                "name": "web",
                "namespace": "default",
            }
        },
    ]
    proc = _play(kubeconfig, tasks, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    dep = server.get("apps", "v1", "deployments", "default", "web")
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
    assert dep["status"]["readyReplicas"] == 3
    pods = server.list_objects("", "v1", "pods", "default", "app=web")["items"]
    assert len(pods) == 3 and all(p["metadata"]["labels"]["pod-template-hash"] for p in pods)
    replicasets = server.list_objects("apps", "v1", "replicasets", "default")["items"]
    assert sorted(rs["spec"]["replicas"] for rs in replicasets) == [0, 3]


def test_crashlooping_image_and_server_side_dry_run(cluster: tuple[KubeApiServer, Path], tmp_path: Path) -> None:
    server, ca = cluster
    kubeconfig = _kubeconfig(server, ca, "admin-token", tmp_path / "kubeconfig")
    bad = json.loads(json.dumps(DEPLOYMENT).replace('"web"', '"bad"').replace("nginx:1.25", "example/crash:1"))
    proc = _play(
        kubeconfig,
        [
            {"kubernetes.core.k8s": bad},
            {
                "kubernetes.core.k8s_scale": {
                    "api_version": "apps/v1",
                    "kind": "Deployment",
                    "name": "bad",
                    "namespace": "default",
                    "replicas": 9,
                    "wait": False,
                },
                "check_mode": False,
            },
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    dep = server.get("apps", "v1", "deployments", "default", "bad")
    conditions = {c["type"]: c for c in dep["status"]["conditions"]}
    assert conditions["Progressing"]["reason"] == "ProgressDeadlineExceeded" and dep["status"]["readyReplicas"] == 0
    pod = server.list_objects("", "v1", "pods", "default", "app=bad")["items"][0]
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    before = server.get("apps", "v1", "deployments", "default", "bad")
    server.patch(
        "apps",
        "v1",
        "deployments",
        "default",
        "bad",
        {"spec": {"replicas": 1}},
        "application/merge-patch+json",
        dry_run=True,
    )
    assert server.get("apps", "v1", "deployments", "default", "bad") == before


def test_rbac_refuses_a_verb_the_role_lacks(cluster: tuple[KubeApiServer, Path], tmp_path: Path) -> None:
    server, ca = cluster
    server.create(
        "rbac.authorization.k8s.io",
        "v1",
        "roles",
        "default",
        {
            "metadata": {"name": "reader"},
            "rules": [
                {"apiGroups": ["apps"], "resources": ["deployments", "deployments/scale"], "verbs": ["get", "list"]}
            ],
        },
    )
    server.create(
        "rbac.authorization.k8s.io",
        "v1",
        "rolebindings",
        "default",
        {
            "metadata": {"name": "agent-reader"},
            "subjects": [{"kind": "ServiceAccount", "name": "agent", "namespace": "default"}],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "reader"},
        },
    )
    server.create("apps", "v1", "deployments", "default", {**DEPLOYMENT["definition"], "metadata": {"name": "api"}})
    kubeconfig = _kubeconfig(server, ca, "agent-token", tmp_path / "kubeconfig")
    read = _play(
        kubeconfig,
        [
            {
                "kubernetes.core.k8s_info": {
                    "api_version": "apps/v1",
                    "kind": "Deployment",
                    "namespace": "default",
                    "name": "api",
                }
            }
        ],
        tmp_path,
    )
    assert read.returncode == 0, read.stdout[-3000:]
    scale = _play(
        kubeconfig,
        [
            {
                "kubernetes.core.k8s_scale": {
                    "api_version": "apps/v1",
                    "kind": "Deployment",
                    "name": "api",
                    "namespace": "default",
                    "replicas": 5,
                    "wait": False,
                }
            }
        ],
        tmp_path,
    )
    assert scale.returncode != 0
    assert 'cannot patch resource \\"deployments/scale\\" in API group \\"apps\\"' in scale.stdout or (
        "cannot patch resource" in scale.stdout and "deployments/scale" in scale.stdout
    ), scale.stdout[-3000:]
    assert server.get("apps", "v1", "deployments", "default", "api")["spec"]["replicas"] == 2


def test_events_and_field_selectors(cluster: tuple[KubeApiServer, Path], tmp_path: Path) -> None:
    server, ca = cluster
    kubeconfig = _kubeconfig(server, ca, "admin-token", tmp_path / "kubeconfig")
    crashing = json.loads(json.dumps(DEPLOYMENT).replace('"web"', '"flaky"').replace("nginx:1.25", "example/crash:2"))
    proc = _play(
        kubeconfig,
        [
            {"kubernetes.core.k8s": crashing},
            {
                "kubernetes.core.k8s_info": {
                    "api_version": "v1",
                    "kind": "Event",
                    "namespace": "default",
                    "field_selectors": ["involvedObject.name=flaky", "reason=ScalingReplicaSet"],
                },
                "register": "events",
            },
            {"ansible.builtin.assert": {"that": ["events.resources | length == 1"]}},
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    warnings = server.list_objects("", "v1", "events", "default", fields="type=Warning,reason=BackOff")["items"]
    assert len(warnings) >= 2 and all(e["involvedObject"]["kind"] == "Pod" for e in warnings)
    assert server.list_objects("", "v1", "pods", "default", fields="metadata.name=nope")["items"] == []


def _workload(kind: str, name: str, replicas: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": name}},
        "template": {
            "metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": name, "image": f"example/{name}:1"}]},
        },
    }
    if replicas is not None:
        spec["replicas"] = replicas
    return {
        "api_version": "apps/v1",
        "kind": kind,
        "name": name,
        "namespace": "infra",
        "definition": {"metadata": {"labels": {"app": name}}, "spec": spec},
        "wait": True,
        "wait_timeout": 20,
        "wait_sleep": 1,
    }


def test_statefulset_daemonset_and_a_drain_that_evicts(cluster: tuple[KubeApiServer, Path], tmp_path: Path) -> None:
    """kubernetes.core's own readiness checks (wait: true) pass for the StatefulSet and DaemonSet controllers,
    and k8s_drain evicts the node's pods, which their controllers recreate on the other node."""
    server, ca = cluster
    server.create("", "v1", "nodes", None, ready_node("node-b"))
    kubeconfig = _kubeconfig(server, ca, "admin-token", tmp_path / "kubeconfig")
    tasks = [
        {"kubernetes.core.k8s": {"api_version": "v1", "kind": "Namespace", "name": "infra"}},
        {"kubernetes.core.k8s": _workload("StatefulSet", "cache", 2)},
        {"kubernetes.core.k8s": _workload("DaemonSet", "agent", None)},
        {"kubernetes.core.k8s": {**_workload("Deployment", "api", 2)}},
        {
            "kubernetes.core.k8s_drain": {
                "name": "node-a",
                "delete_options": {"ignore_daemonsets": True, "wait_timeout": 20, "wait_sleep": 1},
            },
            "register": "drained",
        },
    ]
    proc = _play(kubeconfig, tasks, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:]
    pods = server.list_objects("", "v1", "pods", "infra")["items"]
    names = sorted(p["metadata"]["name"] for p in pods)
    assert [n for n in names if n.startswith("cache-")] == ["cache-0", "cache-1"]
    nodes_of = {p["metadata"]["name"]: p["spec"]["nodeName"] for p in pods}
    # After the drain only DaemonSet pods remain on node-a; everything else was rescheduled onto node-b.
    on_a = [n for n, node in nodes_of.items() if node == "node-a"]
    assert len(on_a) == 1 and on_a[0].startswith("agent-")
    assert sum(1 for n in names if n.startswith("agent-")) == 2
    assert all(nodes_of[n] == "node-b" for n in names if not n.startswith("agent-"))
    assert server.get("", "v1", "nodes", None, "node-a")["spec"]["unschedulable"] is True
    sts = server.get("apps", "v1", "statefulsets", "infra", "cache")
    assert sts["status"]["readyReplicas"] == 2 and sts["status"]["updateRevision"].startswith("cache-")
    scheduled = server.list_objects("", "v1", "events", "infra", fields="reason=Scheduled")["items"]
    assert any("to node-b" in e["message"] for e in scheduled)
