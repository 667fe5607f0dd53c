"""The Kubernetes API test server answers the unmodified kubernetes.core modules over TLS, RBAC included.

Groundwork for the Kubernetes provider (issue 4): these tests drive kubernetes.core through ansible-playbook
against the server, the way the provider's role will.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible.paths import project_dir
from shieldops_ansible.sandbox.kube_apiserver import KubeApiServer
from shieldops_ansible.sandbox.tls import make_ca_and_server_cert

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
    play = [
        {
            "hosts": "localhost",
            "gather_facts": False,
            "module_defaults": {"group/kubernetes.core.k8s": {"kubeconfig": str(kubeconfig)}},
            "environment": {"K8S_AUTH_KUBECONFIG": str(kubeconfig)},
            "tasks": tasks,
        }
    ]
    path = tmp_path / "play.yml"
    path.write_text(yaml.safe_dump(play))
    return subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=project_dir(),
        env={
            **os.environ,
            "ANSIBLE_CONFIG": str(project_dir() / "ansible.cfg"),
            "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        },
    )


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
    pods = server.list("", "v1", "pods", "default", "app=web")["items"]
    assert len(pods) == 3 and all(p["metadata"]["labels"]["pod-template-hash"] for p in pods)
    replicasets = server.list("apps", "v1", "replicasets", "default")["items"]
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
    pod = server.list("", "v1", "pods", "default", "app=bad")["items"][0]
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
    warnings = server.list("", "v1", "events", "default", fields="type=Warning,reason=BackOff")["items"]
    assert len(warnings) >= 2 and all(e["involvedObject"]["kind"] == "Pod" for e in warnings)
    assert server.list("", "v1", "pods", "default", fields="metadata.name=nope")["items"] == []
