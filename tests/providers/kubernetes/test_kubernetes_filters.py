"""The Kubernetes filters: diffs of server answers, rollout status, revisions, what a drain evicts."""

import sys
from typing import Any

from shieldops_ansible.paths import project_dir

sys.path.insert(0, str(project_dir() / "collections"))
from ansible_collections.shieldops.connectors.plugins.filter import kubernetes as kube


def _deployment(**status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": 3, "resourceVersion": "9", "annotations": {}},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 3, **status},
    }


def test_diff_keeps_only_what_changed_and_ignores_server_fields() -> None:
    before = {"metadata": {"name": "web", "resourceVersion": "1", "labels": {"a": "1"}}, "spec": {"replicas": 2}}
    after = {
        "metadata": {"name": "web", "resourceVersion": "2", "labels": {"a": "1", "b": "2"}},
        "spec": {"replicas": 4},
        "status": {"replicas": 4},
    }
    assert kube.kube_diff(before, after) == {
        "before": {"spec": {"replicas": 2}},
        "after": {"metadata": {"labels": {"b": "2"}}, "spec": {"replicas": 4}},
    }
    assert kube.kube_diff(before, before) == {"before": {}, "after": {}}


def test_rollout_state_follows_kubectl_rollout_status() -> None:
    done = _deployment(replicas=2, updatedReplicas=2, availableReplicas=2)
    assert kube.kube_rollout_state(done) == "complete"
    assert kube.kube_rollout_state(_deployment(replicas=3, updatedReplicas=2, availableReplicas=2)) == "progressing"
    stale = _deployment(replicas=2, updatedReplicas=2, availableReplicas=2)
    stale["status"]["observedGeneration"] = 2
    assert kube.kube_rollout_state(stale) == "progressing"
    stuck = _deployment(conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}])
    assert kube.kube_rollout_state(stuck) == "failed"
    sts = {
        "kind": "StatefulSet",
        "metadata": {"generation": 1},
        "spec": {"replicas": 1},
        "status": {
            "observedGeneration": 1,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": 1,
            "currentRevision": "c-1",
            "updateRevision": "c-2",
        },
    }
    assert kube.kube_rollout_state(sts) == "progressing"
    sts["status"]["currentRevision"] = "c-2"
    assert kube.kube_rollout_state(sts) == "complete"
    ds = {
        "kind": "DaemonSet",
        "metadata": {"generation": 1},
        "status": {
            "observedGeneration": 1,
            "desiredNumberScheduled": 2,
            "updatedNumberScheduled": 2,
            "numberAvailable": 1,
        },
    }
    assert kube.kube_rollout_state(ds) == "progressing"


def test_revision_of_each_workload_kind() -> None:
    dep = _deployment()
    dep["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    assert kube.kube_revision(dep) == "4"
    assert kube.kube_revision({"metadata": {}, "status": {"currentRevision": "cache-abc"}}) == "cache-abc"
    assert kube.kube_revision({"metadata": {"generation": 2}, "status": {}}) == "2"


def test_a_drain_evicts_all_but_daemonset_and_mirror_pods() -> None:
    def pod(name: str, owner: str | None = None, mirror: bool = False) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "namespace": "ns"}
        if owner:
            meta["ownerReferences"] = [{"kind": owner, "name": "x"}]
        if mirror:
            meta["annotations"] = {"kubernetes.io/config.mirror": "1"}
        return {"metadata": meta}

    pods = [pod("b", "ReplicaSet"), pod("a", "StatefulSet"), pod("ds", "DaemonSet"), pod("static", mirror=True)]
    assert kube.kube_evictable(pods) == ["ns/a", "ns/b"]
