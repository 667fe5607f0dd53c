"""awx_approval with the transport's test double: what a claim of an AWX approval must show, and the config key."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import ValidationError

from shieldops_ansible.awx_approval import ApprovalRefused, AwxApprovals, approved_by

ACTION = {"type": "scale", "resource_id": "deployment/shop/web", "parameters": {"replicas": 3}}
AWX = AwxApprovals(controller_url="https://awx.example")


def _documents(**changes: Any) -> dict[str, Any]:
    nodes = [
        {"id": 2, "job": 41, "success_nodes": [3], "summary_fields": {"job": {"type": "workflow_approval"}}},
        {"id": 3, "job": 42, "success_nodes": [], "summary_fields": {"job": {"type": "job"}}},
    ]
    documents: dict[str, Any] = {
        "/api/v2/jobs/42/": {
            "status": "running",
            "extra_vars": json.dumps({"action": ACTION}),
            "summary_fields": {"source_workflow_job": {"id": 40}},
        },
        # AWX pages its listings: the second page holds the action's node.
        "/api/v2/workflow_jobs/40/workflow_nodes/?page_size=200": {
            "count": 2,
            "next": "/api/v2/workflow_jobs/40/workflow_nodes/?page=2",
            "results": nodes[:1],
        },
        "/api/v2/workflow_jobs/40/workflow_nodes/?page=2": {"count": 2, "next": None, "results": nodes[1:]},
        "/api/v2/workflow_approvals/41/": {
            "id": 41,
            "status": "successful",
            "timed_out": False,
            "summary_fields": {"approved_or_denied_by": {"username": "alice"}},
        },
    }
    documents.update(changes)
    return documents


def _check(documents: Mapping[str, Any], **claim: Any) -> str:
    def fetch(path: str) -> Mapping[str, Any]:
        if path not in documents:
            raise ApprovalRefused(f"the controller answered 404 for {path}")
        return documents[path]

    return approved_by(
        AWX,
        {},
        job_id=claim.get("job_id", 42),
        workflow_job_id=claim.get("workflow_job_id", 40),
        asked=lambda answers: answers["action"],
        action=claim.get("action", ACTION),
        fetch=fetch,
    )


def test_an_approved_approval_before_the_job_names_its_approver() -> None:
    assert _check(_documents()) == "alice (AWX workflow job 40, approval 41)"


@pytest.mark.parametrize(
    ("claim", "why"),
    [
        ({"job_id": "42/../1"}, "awx_job_id is not a job id"),
        ({"workflow_job_id": "x"}, "awx_workflow_job_id is not a job id"),
        ({"action": ACTION | {"parameters": {"replicas": 9}}}, "another action"),
        ({"action": ACTION | {"resource_id": "deployment/shop/api"}}, "another action"),
    ],
)
def test_a_claim_that_does_not_hold_is_refused(claim: dict[str, Any], why: str) -> None:
    with pytest.raises(ApprovalRefused, match=why):
        _check(_documents(), **claim)


def test_an_approval_without_an_approver_is_refused() -> None:
    nobody = {"id": 41, "status": "successful", "timed_out": False, "summary_fields": {}}
    with pytest.raises(ApprovalRefused, match="names no approver"):
        _check(_documents(**{"/api/v2/workflow_approvals/41/": nobody}))


def test_no_credential_no_check() -> None:
    with pytest.raises(ApprovalRefused, match="no controller credential"):
        approved_by(AWX, {}, job_id=42, workflow_job_id=40, asked=dict, action=ACTION)


@pytest.mark.parametrize(
    "url", ["http://awx.example", "https://user:pw@awx.example", "https://awx.example/?x=1", "ftp://awx.example"]
)
def test_the_controller_is_https_and_bare(url: str) -> None:
    with pytest.raises(ValidationError):
        AwxApprovals(controller_url=url)
    assert AwxApprovals(controller_url="http://127.0.0.1:8052/").controller_url == "http://127.0.0.1:8052"
