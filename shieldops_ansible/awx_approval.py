"""AWX's workflow approval as the policy's approval: an AWX job that is the action node of a workflow in which an
approval node, directly before it, was approved by a person.

The policy check (the collection's policy_check action plugin) asks this module when an action under
``require_approval`` comes without the facade's grant and the config names an AWX (``awx_approvals``). What the
run says about itself (``awx_job_id``, ``awx_workflow_job_id``) is only a claim, since anyone can pass those to
``ansible-playbook``; each part of it is checked against the controller named in the config file (never one named
by the run's environment), with the job's controller credential:

- the job is running now, launched by that workflow job;
- the job's own survey answers are this action (type, resource, parameters): an approval is for what was asked;
- an approval node whose success path leads to the job's node was approved (not denied, not timed out), and by
  whom.

Standard library only (urllib): the check runs inside AWX's execution environment.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

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

    def fetch(path: str) -> Mapping[str, Any]:
        request = urllib.request.Request(
            awx.controller_url + path, headers={"Authorization": authorization, "Accept": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS, context=context) as response:
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
        page = urllib.parse.urlsplit(following)._replace(scheme="", netloc="").geturl() if following else None
    raise ApprovalRefused(f"{path}: too many pages")


def _as_id(value: Any, what: str) -> int:
    text = str(value)
    if not text.isdigit() or len(text) > 12:
        raise ApprovalRefused(f"{what} is not a job id")
    return int(text)


def _what(action: Mapping[str, Any]) -> str:
    """What an approval is for: the action's type, resource and parameters (its reason and dry run aside)."""
    what = {
        "type": action.get("type"),
        "resource_id": action.get("resource_id"),
        "parameters": action.get("parameters") or {},
    }
    return json.dumps(what, sort_keys=True, default=str)


def approved_by(
    awx: AwxApprovals,
    credentials: Mapping[str, str],
    *,
    job_id: Any,
    workflow_job_id: Any,
    asked: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    action: Mapping[str, Any],
    fetch: Fetch | None = None,
) -> str:
    """Who approved this action in AWX, or ``ApprovalRefused``. ``asked``: the action a job's extra vars (its
    survey answers) ask for, as the job's playbook reads them; ``fetch``: the transport (a test double may
    replace it)."""
    job, workflow = _as_id(job_id, "awx_job_id"), _as_id(workflow_job_id, "awx_workflow_job_id")
    fetch = fetch or _fetcher(awx, credentials)
    document = fetch(f"/api/v2/jobs/{job}/")
    if document.get("status") != "running":
        raise ApprovalRefused(f"job {job} is not running")
    source = (document.get("summary_fields") or {}).get("source_workflow_job") or {}
    if source.get("id") != workflow:
        raise ApprovalRefused(f"job {job} was not launched by workflow job {workflow}")
    try:
        answers = json.loads(document.get("extra_vars") or "{}")
        theirs = asked(answers)
    except Exception as error:  # the job's answers do not make an action: nothing was approved for this one
        raise ApprovalRefused(f"job {job}'s survey answers are no action ({type(error).__name__})") from None
    if _what(theirs) != _what(action):
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
    names = []
    for node in approvals:
        approval = fetch(f"/api/v2/workflow_approvals/{_as_id(node.get('job'), 'the approval')}/")
        if approval.get("status") != "successful" or approval.get("timed_out"):
            raise ApprovalRefused(f"workflow approval {approval.get('id')} is {approval.get('status')}, not approved")
        person = ((approval.get("summary_fields") or {}).get("approved_or_denied_by") or {}).get("username")
        if not person:
            raise ApprovalRefused(f"workflow approval {approval.get('id')} names no approver")
        names.append(f"{person} (AWX workflow job {workflow}, approval {approval.get('id')})")
    return "; ".join(names)
