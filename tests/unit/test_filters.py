"""The provider-neutral filter plugin, loaded from the collection as Ansible would load its file."""

import importlib.util
import sys
from types import ModuleType

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from shieldops_ansible.paths import project_dir, role_path
from shieldops_ansible.providers import PROVIDER_TYPES


def _load() -> ModuleType:
    # core.py imports the collection's plugin_utils by their collection path; give it one.
    sys.path.insert(0, str(project_dir() / "collections"))
    path = project_dir() / "collections/ansible_collections/shieldops/connectors/plugins/filter/core.py"
    spec = importlib.util.spec_from_file_location("shieldops_filter_core", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


core = _load()


def _rules(provider: str) -> dict[str, object]:
    """The errors section of a provider role's vocabulary: how that provider's failures read."""
    vocabulary = yaml.safe_load((role_path(PROVIDER_TYPES[provider].role()) / "vars" / "main.yml").read_text())
    rules: dict[str, object] = vocabulary["shieldops_capabilities"].get("errors") or {}
    return rules


AWS, KUBE, LINUX = _rules("aws"), _rules("kubernetes"), _rules("linux")


@pytest.mark.parametrize(
    "message,rules,kind",
    [
        (
            "An error occurred (UnauthorizedOperation) when calling the StopInstances operation",
            AWS,
            "permission_denied",
        ),
        ("User x is not authorized to perform: ecs:UpdateService", AWS, "permission_denied"),
        ("An error occurred (InvalidInstanceID.NotFound)", AWS, "not_found"),
        ("not_found: no ECS service x", None, "not_found"),
        ("An error occurred (ExpiredToken) when calling", AWS, "authentication"),
        ("Could not connect to the endpoint URL: http://127.0.0.1:1/", AWS, "backend_unavailable"),
        ("Failed to patch object: Too many requests, please try again later. (429)", None, "backend_unavailable"),
        (
            "An error occurred (RequestLimitExceeded) when calling the StopInstances operation",
            AWS,
            "backend_unavailable",
        ),
        ("policy_denied: policy rule read_only: the environment is read-only", None, "policy_denied"),
        ("Validating arguments against arg spec 'get_health'", None, "invalid_request"),
        ("snapshot_not_found: no snapshot snap-x", None, "snapshot_not_found"),
        ("Failed to connect to the host via ssh: root@h: Permission denied (publickey).", LINUX, "authentication"),
        ('deployments.apps "web" not found (reason NotFound)', KUBE, "not_found"),
        ("something else broke", AWS, "failed"),
    ],
)
def test_classify_error(message: str, rules: dict[str, object] | None, kind: str) -> None:
    result = core.classify_error({"msg": message}, rules)
    assert result["kind"] == kind
    assert not result["message"].startswith(kind + ":")


def test_a_providers_words_mean_nothing_for_another_provider() -> None:
    """Each provider's error words live in its own vocabulary: AWS's codes do not classify a Kubernetes failure."""
    message = "An error occurred (AccessDenied) when calling the GetFunction operation"
    assert core.classify_error({"msg": message}, AWS)["kind"] == "permission_denied"
    assert core.classify_error({"msg": message}, KUBE)["kind"] == "failed"
    assert core.classify_error({"msg": "Permission denied (publickey)."}, AWS)["kind"] == "failed"


def test_an_unreachable_host_keeps_its_word() -> None:
    """ "unreachable:" is our marker of a backend_unavailable failure, and the agent's clue: it stays."""
    assert core.classify_error({"msg": "unreachable: web-2: timed out"}) == {
        "kind": "backend_unavailable",
        "message": "unreachable: web-2: timed out",
    }


def test_an_unreadable_vocabulary_does_not_hide_the_failure() -> None:
    result = core.classify_error({"msg": "policy_denied: read_only"}, "/nonexistent/role")
    assert result == {"kind": "policy_denied", "message": "read_only"}


def test_classify_error_finds_our_marker_inside_ansibles_wrapping() -> None:
    """ansible-core 2.19 wraps the message of a filter that fails; the kind our filter stated must survive it."""
    wrapped = (
        "Task failed: Finalization of task args for 'ansible.builtin.set_fact' failed: Error while resolving value"
        " for 'shieldops_target': The filter plugin 'shieldops.connectors.resolve_target' failed: invalid_request:"
        " 'x' is not a resource id of this provider"
    )
    assert core.classify_error({"msg": wrapped}) == {
        "kind": "invalid_request",
        "message": "'x' is not a resource id of this provider",
    }
    lazily = "Task failed: The filter plugin 'shieldops.connectors.linux_inventory_host' failed: not_found: no host x"
    assert core.classify_error({"msg": lazily})["kind"] == "not_found"


def test_classify_error_reduces_xml_documents() -> None:
    xml = '<?xml version="1.0"?><ErrorResponse><Error><Code>AccessDenied</Code><Message>no</Message></Error>'
    result = core.classify_error({"msg": "Failed: " + xml}, AWS)
    assert result == {"kind": "permission_denied", "message": "Failed: AccessDenied: no"}


def test_match_filters() -> None:
    rs = [
        {"name": "web-1", "state": "running", "tags": {"app": "web"}},
        {"name": "db-1", "state": "stopped", "tags": {"app": "db"}},
    ]
    allowed = ["name", "tags", "state"]
    assert [r["name"] for r in core.match_filters(rs, {"name": "web-*"}, allowed)] == ["web-1"]
    assert [r["name"] for r in core.match_filters(rs, {"tags": {"app": "db"}}, allowed)] == ["db-1"]
    assert [r["name"] for r in core.match_filters(rs, {"state": "running"}, allowed)] == ["web-1"]
    with pytest.raises(AnsibleFilterError, match="invalid_request"):
        core.match_filters(rs, {"colour": "x"}, allowed)


def test_worst_status_and_thresholds() -> None:
    assert core.worst_status([]) == "unknown"
    assert core.worst_status([{"status": "healthy"}, {"status": "degraded"}]) == "degraded"
    assert core.threshold_status(96, {"degraded": 80, "unhealthy": 95}) == "unhealthy"
    assert core.threshold_status(None, {"degraded": 80, "unhealthy": 95}) == "unknown"


def test_classify_error_of_a_failed_loop_uses_the_failed_item() -> None:
    result = {
        "msg": "One or more items failed",
        "results": [{"failed": False}, {"failed": True, "msg": "An error occurred (AccessDenied) on CreateSnapshot"}],
    }
    assert core.classify_error(result, AWS)["kind"] == "permission_denied"


def test_classify_error_reads_the_api_error_code() -> None:
    result = {"msg": "Failed to create snapshot", "error": {"code": "UnauthorizedOperation", "message": "denied"}}
    assert core.classify_error(result, AWS) == {
        "kind": "permission_denied",
        "message": "Failed to create snapshot (UnauthorizedOperation: denied)",
    }


def test_classify_error_finds_the_cause_in_the_traceback() -> None:
    trace = (
        "Traceback...\nbotocore.exceptions.ClientError: "
        "An error occurred (UnauthorizedOperation) when calling the CreateSnapshot operation: no\n"
    )
    result = core.classify_error({"msg": "Failed to create snapshot", "exception": trace}, AWS)
    assert result["kind"] == "permission_denied" and "CreateSnapshot" in result["message"]


def test_classify_error_falls_back_to_stdout_when_msg_is_empty() -> None:
    result = {"msg": "", "stdout": "worker: ERROR (not running)\nworker: ERROR (spawn error)\n", "exception": "x"}
    assert core.classify_error(result)["message"] == "worker: ERROR (not running); worker: ERROR (spawn error)"


def test_classify_error_reduces_kubernetes_status_documents() -> None:
    msg = (
        'Scale request failed: b\'{"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", '
        '"message": "deployments.apps \\\\"web\\\\" is forbidden: User \\\\"u\\\\" cannot patch resource '
        '\\\\"deployments/scale\\\\"", "reason": "Forbidden", "code": 403}\''
    )
    result = core.classify_error({"msg": msg}, KUBE)
    assert result["kind"] == "permission_denied"
    assert result["message"] == (
        'Scale request failed: deployments.apps "web" is forbidden: User "u" cannot patch resource "deployments/scale"'
    )
