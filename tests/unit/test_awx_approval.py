"""awx_approval with the transport's test double: what a claim of an AWX approval must show, and the config key."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from shieldops_ansible.awx_approval import ApprovalRefused, AwxApprovals, approved_by

ACTION = {"type": "scale", "resource_id": "deployment/shop/web", "parameters": {"replicas": 3}}
REQUEST = {"environment": "prod", "action": ACTION}
AWX = AwxApprovals(controller_url="https://awx.example")
TEMPLATES = ("ShieldOps scale (approved)", "ShieldOps execute_action")


def _documents(**changes: Any) -> dict[str, Any]:
    nodes = [
        {"id": 2, "job": 41, "success_nodes": [3], "summary_fields": {"job": {"type": "workflow_approval"}}},
        {"id": 3, "job": 42, "success_nodes": [], "summary_fields": {"job": {"type": "job"}}},
    ]
    documents: dict[str, Any] = {
        "/api/v2/jobs/42/": {
            "status": "running",
            "extra_vars": json.dumps(REQUEST),
            "summary_fields": {"source_workflow_job": {"id": 40}, "job_template": {"name": TEMPLATES[1]}},
        },
        "/api/v2/workflow_jobs/40/": {
            "summary_fields": {"workflow_job_template": {"name": TEMPLATES[0]}, "created_by": {"username": "bob"}}
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


def _approve(state_dir: Path, fetch: Any = None, *, awx: AwxApprovals = AWX, token: str = "t", **claim: Any) -> str:
    """approved_by for the usual claim (job 42 of workflow job 40, REQUEST), with ``claim``'s changes."""
    return approved_by(
        awx,
        {"CONTROLLER_OAUTH_TOKEN": token},
        job_id=claim.get("job_id", 42),
        workflow_job_id=claim.get("workflow_job_id", 40),
        asked=lambda answers: answers,
        request=claim.get("request", REQUEST),
        templates=TEMPLATES,
        state_dir=str(state_dir),
        fetch=fetch,
    )


def _check(documents: Mapping[str, Any], state_dir: Path, **claim: Any) -> str:
    def fetch(path: str) -> Mapping[str, Any]:
        if path not in documents:
            raise ApprovalRefused(f"the controller answered 404 for {path}")
        return documents[path]

    return _approve(state_dir, fetch, **claim)


def test_an_approved_approval_before_the_job_names_its_approver_once(tmp_path: Path) -> None:
    assert _check(_documents(), tmp_path) == "alice (AWX workflow job 40, approval 41)"
    with pytest.raises(ApprovalRefused, match="has already approved a run"):
        _check(_documents(), tmp_path)


@pytest.mark.parametrize(
    ("claim", "why"),
    [
        ({"job_id": "42/../1"}, "awx_job_id is not a job id"),
        ({"workflow_job_id": "x"}, "awx_workflow_job_id is not a job id"),
        ({"request": REQUEST | {"action": ACTION | {"parameters": {"replicas": 9}}}}, "another action"),
        ({"request": REQUEST | {"action": ACTION | {"resource_id": "deployment/shop/api"}}}, "another action"),
        ({"request": REQUEST | {"environment": "staging"}}, "another action"),
    ],
)
def test_a_claim_that_does_not_hold_is_refused(claim: dict[str, Any], why: str, tmp_path: Path) -> None:
    with pytest.raises(ApprovalRefused, match=why):
        _check(_documents(), tmp_path, **claim)


def test_an_approval_without_an_approver_is_refused(tmp_path: Path) -> None:
    nobody = {"id": 41, "status": "successful", "timed_out": False, "summary_fields": {}}
    with pytest.raises(ApprovalRefused, match="names no approver"):
        _check(_documents(**{"/api/v2/workflow_approvals/41/": nobody}), tmp_path)


def test_a_next_page_off_the_api_is_refused(tmp_path: Path) -> None:
    first = "/api/v2/workflow_jobs/40/workflow_nodes/?page_size=200"
    for elsewhere in ("@evil.example/api/v2/x/", "https://evil.example/api/v2/x/", "//evil.example/api/v2/x/"):
        documents = _documents()
        documents[first] = dict(documents[first], next=elsewhere)
        documents[elsewhere] = documents["/api/v2/workflow_jobs/40/workflow_nodes/?page=2"]

        def fetch(path: str, documents: dict[str, Any] = documents) -> Mapping[str, Any]:
            return documents[path]

        with pytest.raises(ApprovalRefused, match="outside its API"):
            _approve(tmp_path, fetch)


def test_the_token_does_not_follow_a_redirect(tmp_path: Path) -> None:
    """A controller that redirects: urllib's default opener would send the Authorization header along."""
    seen: list[str | None] = []

    class Other(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)

    class Redirecting(Other):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", f"http://127.0.0.1:{other.server_address[1]}/api/v2/jobs/42/")
            self.end_headers()

    controller = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    for server in (other, controller):
        threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        awx = AwxApprovals(controller_url=f"http://127.0.0.1:{controller.server_address[1]}")
        with pytest.raises(ApprovalRefused, match="answered 302"):
            _approve(tmp_path, awx=awx, token="secret-token")
        assert seen == []
    finally:
        for server in (other, controller):
            server.shutdown()
            server.server_close()


def test_no_credential_no_check() -> None:
    with pytest.raises(ApprovalRefused, match="no controller credential"):
        approved_by(
            AWX,
            {},
            job_id=42,
            workflow_job_id=40,
            asked=dict,
            request=REQUEST,
            templates=TEMPLATES,
            state_dir="/nonexistent",
        )


@pytest.mark.parametrize(
    "url", ["http://awx.example", "https://user:pw@awx.example", "https://awx.example/?x=1", "ftp://awx.example"]
)
def test_the_controller_is_https_and_bare(url: str) -> None:
    with pytest.raises(ValidationError):
        AwxApprovals(controller_url=url)
    assert AwxApprovals(controller_url="http://127.0.0.1:8052/").controller_url == "http://127.0.0.1:8052"
