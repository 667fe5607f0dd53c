"""AWX's workflow approval as the policy's approval: an AWX job that is the action node of a workflow in which an
approval node, directly before it, was approved by a person.

The policy check (the collection's policy_check action plugin) asks this module when an action under
``require_approval`` comes without the facade's grant and the config names an AWX (``awx_approvals``). What the
run says about itself (``awx_job_id``, ``awx_workflow_job_id``) is only a claim, since anyone can pass those to
``ansible-playbook``; each part of it is checked against the controller named in the config file (never one named
by the run's environment), with the job's controller credential:

- the job is running now, of the execute_action job template, launched by that workflow job, itself of the
  workflow template of the action's type (playbooks/awx/configure.yml makes both);
- the job's own survey answers are this environment and action (type, resource, parameters): an approval is for
  what was asked;
- an approval node whose success path leads to the job's node was approved (not denied, not timed out) by a named
  user other than the one who launched the workflow (four eyes);
- the approval has approved no run before (each approval is claimed once, in the state directory).

Standard library only (urllib): the check runs inside AWX's execution environment.
"""

from __future__ import annotations

import json
import os
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .snapshots import signing

__all__ = ["ApprovalRefused", "AwxApprovals", "approved_by"]

_TIMEOUT_SECONDS = 10.0
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class ApprovalRefused(Exception):
    """The run's claim of an AWX approval does not hold; the message says which part, never a credential."""


class AwxApprovals(BaseModel):
    """The config file's ``awx_approvals``: the AWX whose workflow approvals count as the policy's approvals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    controller_url: str = Field(description="the AWX (Automation Controller) base URL, https")
    ca_file: str | None = Field(default=None, description="the CA bundle its certificate is checked with")

    @field_validator("controller_url")
    @classmethod
    def _https(cls, value: str) -> str:
        url = urllib.parse.urlsplit(value)
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in _LOOPBACK):
            raise ValueError("must be an https URL (http only on loopback)")
        if url.username or url.password or url.query or url.fragment:
            raise ValueError("must be a bare base URL (no credentials, query or fragment)")
        return value.rstrip("/")


Fetch = Callable[[str], Mapping[str, Any]]
# A path of the controller's API, relative to its base URL: nothing that could name another host.
_API_PATH = re.compile(r"/api/v2/[A-Za-z0-9_/]*/(\?[A-Za-z0-9_=&]*)?")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _fetcher(awx: AwxApprovals, credentials: Mapping[str, str]) -> Fetch:
    """GET a path of the controller's API as the job's controller credential (CONTROLLER_OAUTH_TOKEN, else
    CONTROLLER_USERNAME and CONTROLLER_PASSWORD, as AWX's controller credential type injects them)."""
    token = credentials.get("CONTROLLER_OAUTH_TOKEN")
    if token:
        authorization = f"Bearer {token}"
    elif credentials.get("CONTROLLER_USERNAME") and credentials.get("CONTROLLER_PASSWORD"):
        import base64

        pair = f"{credentials['CONTROLLER_USERNAME']}:{credentials['CONTROLLER_PASSWORD']}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    else:
        raise ApprovalRefused("the job has no controller credential to check its workflow's approval with")
    context = ssl.create_default_context(cafile=awx.ca_file) if awx.controller_url.startswith("https:") else None
    # urllib's default opener follows redirects with the Authorization header, to any host: none is followed.
    opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))

    def fetch(path: str) -> Mapping[str, Any]:
        if not _API_PATH.fullmatch(path):
            raise ApprovalRefused("the controller named a page outside its API")
        request = urllib.request.Request(
            awx.controller_url + path, headers={"Authorization": authorization, "Accept": "application/json"}
        )
        try:
            with opener.open(request, timeout=_TIMEOUT_SECONDS) as response:
                document = json.loads(response.read(4 * 1024 * 1024))
        except urllib.error.HTTPError as error:
            raise ApprovalRefused(f"the controller answered {error.code} for {path}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            raise ApprovalRefused(f"the controller could not be read ({type(error).__name__}) for {path}") from None
        if not isinstance(document, dict):
            raise ApprovalRefused(f"the controller's answer for {path} is not an object")
        return document

    return fetch


def _listing(fetch: Fetch, path: str) -> list[Mapping[str, Any]]:
    """Every result of a paged AWX listing (``{count, next, results}``), following ``next`` on the same API."""
    results: list[Mapping[str, Any]] = []
    page: str | None = path
    for _ in range(50):
        if page is None:
            return results
        document = fetch(page)
        results.extend(document.get("results") or [])
        following = document.get("next")
        page = str(following) if following else None
        if page is not None and not _API_PATH.fullmatch(page):
            raise ApprovalRefused("the controller named a page outside its API")
    raise ApprovalRefused(f"{path}: too many pages")


def _as_id(value: Any, what: str) -> int:
    text = str(value)
    if not text.isdigit() or len(text) > 12:
        raise ApprovalRefused(f"{what} is not a job id")
    return int(text)


def _claim_once(state_dir: str, controller_url: str, approval: int) -> None:
    """An approval approves one run: the first to claim it (a file created exclusively in the state directory)."""
    host = urllib.parse.urlsplit(controller_url).netloc.replace(":", "_")
    folder = os.path.join(state_dir, "awx_approvals")
    os.makedirs(folder, mode=0o700, exist_ok=True)
    try:
        os.close(os.open(os.path.join(folder, f"{host}-{approval}"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        raise ApprovalRefused(f"workflow approval {approval} has already approved a run") from None


def approved_by(
    awx: AwxApprovals,
    credentials: Mapping[str, str],
    *,
    job_id: Any,
    workflow_job_id: Any,
    asked: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    request: Mapping[str, Any],
    templates: tuple[str, str],
    state_dir: str,
    fetch: Fetch | None = None,
) -> str:
    """Who approved this request's action in AWX, or ``ApprovalRefused``. ``asked``: the request a job's extra
    vars (its survey answers) ask for, as the job's playbook reads them; ``templates``: the names of the workflow
    template and of the job template (configure.yml's) the job must come from; ``state_dir``: where each approval
    is claimed for one run; ``fetch``: the transport (a test double may replace it)."""
    job, workflow = _as_id(job_id, "awx_job_id"), _as_id(workflow_job_id, "awx_workflow_job_id")
    fetch = fetch or _fetcher(awx, credentials)
    document = fetch(f"/api/v2/jobs/{job}/")
    summary = document.get("summary_fields") or {}
    if document.get("status") != "running":
        raise ApprovalRefused(f"job {job} is not running")
    if (summary.get("source_workflow_job") or {}).get("id") != workflow:
        raise ApprovalRefused(f"job {job} was not launched by workflow job {workflow}")
    if (summary.get("job_template") or {}).get("name") != templates[1]:
        raise ApprovalRefused(f"job {job} is not of the job template {templates[1]!r}")
    launched = fetch(f"/api/v2/workflow_jobs/{workflow}/")
    launched_summary = launched.get("summary_fields") or {}
    if (launched_summary.get("workflow_job_template") or {}).get("name") != templates[0]:
        raise ApprovalRefused(f"workflow job {workflow} is not of the workflow template {templates[0]!r}")
    try:
        answers = json.loads(document.get("extra_vars") or "{}")
        theirs = asked(answers)
    except Exception as error:  # the job's answers do not make an action: nothing was approved for this one
        raise ApprovalRefused(f"job {job}'s survey answers are no action ({type(error).__name__})") from None
    # The binding of the facade's grants too: the environment and what the action does.
    digest = signing().action_digest
    if digest(theirs.get("environment"), theirs.get("action") or {}) != digest(
        request["environment"], request["action"]
    ):
        raise ApprovalRefused(f"job {job} asked for another action than this run's")
    nodes = _listing(fetch, f"/api/v2/workflow_jobs/{workflow}/workflow_nodes/?page_size=200")
    mine = [node.get("id") for node in nodes if node.get("job") == job]
    if len(mine) != 1:
        raise ApprovalRefused(f"job {job} is no node of workflow job {workflow}")
    approvals = [
        node
        for node in nodes
        if mine[0] in (node.get("success_nodes") or [])
        and ((node.get("summary_fields") or {}).get("job") or {}).get("type") == "workflow_approval"
    ]
    if not approvals:
        raise ApprovalRefused(f"no approval node comes before job {job} in workflow job {workflow}")
    launcher = (launched_summary.get("created_by") or {}).get("username")
    names, claimed = [], []
    for node in approvals:
        approval_id = _as_id(node.get("job"), "the approval")
        approval = fetch(f"/api/v2/workflow_approvals/{approval_id}/")
        if approval.get("status") != "successful" or approval.get("timed_out"):
            raise ApprovalRefused(f"workflow approval {approval_id} is {approval.get('status')}, not approved")
        person = ((approval.get("summary_fields") or {}).get("approved_or_denied_by") or {}).get("username")
        if not person:
            raise ApprovalRefused(f"workflow approval {approval_id} names no approver")
        if person == launcher:
            raise ApprovalRefused(f"workflow approval {approval_id} is by {person}, who launched the workflow")
        names.append(f"{person} (AWX workflow job {workflow}, approval {approval_id})")
        claimed.append(approval_id)
    for approval_id in claimed:
        _claim_once(state_dir, awx.controller_url, approval_id)
    return "; ".join(names)
