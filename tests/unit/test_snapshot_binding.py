"""The roles' binding checks (one filter per provider, asserted before a rollback's first write): a signed
document must name only the resource its resource id names. The Kubernetes, ECS and Linux refusals also run
through the real path in tests/integration/test_snapshot_integrity.py."""

from __future__ import annotations

import sys
from typing import Any

from shieldops_ansible.paths import project_dir

sys.path.insert(0, str(project_dir() / "collections"))
from ansible_collections.shieldops.connectors.plugins.filter import aws, kubernetes, linux

IID = "i-0123456789abcdef0"
DEPLOYMENT = {"api_version": "apps/v1", "kind": "Deployment"}


def _ec2(**state: Any) -> dict[str, Any]:
    return {
        "id": "snap-0123456789abcdef",
        "resource_id": IID,
        "handles": {"volumes": [{"device_name": "/dev/xvda", "snapshot_id": "snap-0aaa"}]},
        "state": {"availability_zone": "us-east-1a"} | state,
    }


def test_ec2_the_ebs_snapshots_must_be_of_this_instance_and_snapshot() -> None:
    instance = {"instance_id": IID, "placement": {"availability_zone": "us-east-1a"}}
    ours = [
        {"snapshot_id": "snap-0aaa", "tags": {"shieldops:resource": IID, "shieldops:snapshot": "snap-0123456789abcdef"}}
    ]
    assert aws.aws_ec2_snapshot_mismatch(_ec2(), instance, ours) == ""
    theirs = [{"snapshot_id": "snap-0aaa", "tags": {"shieldops:resource": "i-0fffffffffffffff0"}}]
    assert "EBS snapshot snap-0aaa was not taken of" in aws.aws_ec2_snapshot_mismatch(_ec2(), instance, theirs)
    assert "was not found" in aws.aws_ec2_snapshot_mismatch(_ec2(), instance, [])
    assert "zone 'us-east-1b'" in aws.aws_ec2_snapshot_mismatch(_ec2(availability_zone="us-east-1b"), instance, ours)


def test_lambda_the_function_must_be_the_arn_s() -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:ingest"
    snapshot = {"id": "snap-0123456789abcdef", "resource_id": arn, "state": {"function_name": "ingest"}}
    snapshot["handles"] = {"aliases": [{"name": "live", "function_version": "3"}]}
    assert aws.aws_lambda_snapshot_mismatch(snapshot) == ""
    assert "its function is 'billing'" in aws.aws_lambda_snapshot_mismatch(
        snapshot | {"state": {"function_name": "billing"}}
    )
    bad_alias = snapshot | {"handles": {"aliases": [{"name": "live", "function_version": "3; rm"}]}}
    assert "has no version number" in aws.aws_lambda_snapshot_mismatch(bad_alias)


def test_ecs_service_and_cluster_must_be_the_arn_s() -> None:
    arn = "arn:aws:ecs:us-east-1:123456789012:service/sandbox/api"
    handles = {"service": "api", "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/sandbox"}
    snapshot = {"id": "snap-0123456789abcdef", "resource_id": arn, "handles": handles, "state": {"desired_count": 2}}
    assert aws.aws_ecs_snapshot_mismatch(snapshot) == ""
    other_cluster = handles | {"cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/prod"}
    assert "its cluster is" in aws.aws_ecs_snapshot_mismatch(snapshot | {"handles": other_cluster})
    assert "not a count" in aws.aws_ecs_snapshot_mismatch(snapshot | {"state": {"desired_count": -1}})


def test_kubernetes_the_manifest_must_be_the_workload_s() -> None:
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}}
    snapshot = {"id": "snap-0123456789abcdef", "state": {"manifest": manifest}}
    assert kubernetes.kube_snapshot_mismatch(snapshot, DEPLOYMENT, "shop", "web") == ""
    moved = manifest | {"metadata": {"name": "web", "namespace": "kube-system"}}
    found = kubernetes.kube_snapshot_mismatch({"id": "snap-x", "state": {"manifest": moved}}, DEPLOYMENT, "shop", "web")
    assert "metadata.namespace is 'kube-system', not 'shop'" in found
    other_kind = manifest | {"kind": "ClusterRoleBinding"}
    found = kubernetes.kube_snapshot_mismatch({"state": {"manifest": other_kind}}, DEPLOYMENT, "shop", "web")
    assert "kind is 'ClusterRoleBinding'" in found
    assert "has no manifest" in kubernetes.kube_snapshot_mismatch({"state": {}}, DEPLOYMENT, "shop", "web")


def _linux(paths: list[str], **state: Any) -> dict[str, Any]:
    files = [{"path": p, "host": "web-1"} for p in paths]
    return {"id": "snap-0123456789abcdef", "handles": {"files": files}, "state": {"host": "web-1"} | state}


def test_linux_files_must_be_declared_as_the_capture_expands_them() -> None:
    declared = ["/etc/app", "/opt/app/app.conf"]
    ok = ["/etc/app/a.conf", "/etc/app/conf.d/b.conf", "/opt/app/app.conf"]
    assert linux.linux_snapshot_mismatch(_linux(ok), "web-1", declared) == ""
    for path in (
        "/etc/app/.hidden",
        "/etc/app/.git/config",
        "/etc/apparmor.d/x",
        "/etc/app/../passwd",
        "/root/.ssh/authorized_keys",
    ):
        assert path[:20] in linux.linux_snapshot_mismatch(_linux([path]), "web-1", declared), path
    assert "of host 'web-2'" in linux.linux_snapshot_mismatch(_linux(ok, host="web-2"), "web-1", declared)
    wrong_host = _linux(ok)
    wrong_host["handles"]["files"][0]["host"] = "web-2"
    assert "is of host 'web-2'" in linux.linux_snapshot_mismatch(wrong_host, "web-1", declared)


def test_linux_a_service_s_own_systemd_unit_file_counts_as_declared() -> None:
    unit = _linux(
        ["/etc/systemd/system/nginx.service", "/etc/nginx/nginx.conf"], name="nginx.service", manager="systemd"
    )
    assert linux.linux_snapshot_mismatch(unit, "web-1", ["/etc/nginx"], "nginx") == ""
    other_unit = _linux(["/etc/systemd/system/sshd.service"], name="nginx.service", manager="systemd")
    assert "not among the files" in linux.linux_snapshot_mismatch(other_unit, "web-1", ["/etc/nginx"], "nginx")
    supervised = _linux(["/etc/systemd/system/web.service"], name="web", manager="supervisor")
    assert "not among the files" in linux.linux_snapshot_mismatch(supervised, "web-1", [], "web")
    assert "of service 'worker'" in linux.linux_snapshot_mismatch(_linux([], name="worker"), "web-1", [], "web")
