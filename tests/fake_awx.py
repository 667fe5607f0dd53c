"""A fake AWX controller API on loopback: the few read endpoints the policy check's AWX approval reads, in AWX's
own shapes (awx/api/serializers.py: a job's ``status``, ``extra_vars`` as JSON text and
``summary_fields.source_workflow_job``; a workflow job's nodes, paged as ``{count, next, previous, results}``, each
with ``job``, ``success_nodes`` and ``summary_fields.job.type``; an approval's ``status``, ``timed_out`` and
``summary_fields.approved_or_denied_by``), behind a bearer token (401 without it, 404 for what it does not
hold)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeAwx", "fake_awx"]


@dataclass
class FakeAwx:
    token: str
    url: str = ""
    documents: dict[str, Any] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def workflow(
        self,
        *,
        workflow_job: int,
        job: int,
        answers: Mapping[str, Any],
        approval: Mapping[str, Any] | None,
        job_status: str = "running",
        launched_by: int | None = None,
        workflow_template: str = "ShieldOps scale (approved)",
        job_template: str = "ShieldOps execute_action",
        launcher: str = "bob",
    ) -> None:
        """A workflow job (of ``workflow_template``, launched by the user ``launcher``) whose nodes are its dry
        run, an approval (``approval``: the approval's fields; none: no approval node) and ``job``, the action, of
        ``job_template``, running with ``answers`` as its extra vars. The nodes come in two pages, as AWX pages
        them."""
        approval_id = job - 1
        self.documents = {
            f"/api/v2/jobs/{job}/": {
                "id": job,
                "type": "job",
                "status": job_status,
                "extra_vars": json.dumps(dict(answers)),
                "summary_fields": {
                    "source_workflow_job": {"id": launched_by or workflow_job, "status": "running"},
                    "job_template": {"id": 7, "name": job_template},
                },
            },
            f"/api/v2/workflow_jobs/{workflow_job}/": {
                "id": workflow_job,
                "type": "workflow_job",
                "status": "running",
                "summary_fields": {
                    "workflow_job_template": {"id": 9, "name": workflow_template},
                    "created_by": {"id": 3, "username": launcher},
                },
            },
        }
        nodes: list[dict[str, Any]] = [
            {
                "id": 1,
                "job": job - 2,
                "success_nodes": [2 if approval is not None else 3],
                "summary_fields": {"job": {"id": job - 2, "type": "job", "status": "successful"}},
            },
            {
                "id": 3,
                "job": job,
                "success_nodes": [],
                "summary_fields": {"job": {"id": job, "type": "job", "status": job_status}},
            },
        ]
        if approval is not None:
            nodes.insert(
                1,
                {
                    "id": 2,
                    "job": approval_id,
                    "success_nodes": [3],
                    "summary_fields": {"job": {"id": approval_id, "type": "workflow_approval"}},
                },
            )
            self.documents[f"/api/v2/workflow_approvals/{approval_id}/"] = {"id": approval_id, **approval}
        listing = f"/api/v2/workflow_jobs/{workflow_job}/workflow_nodes/"
        second = f"{listing}?page=2&page_size=200"
        self.documents[listing] = {"count": len(nodes), "next": second, "previous": None, "results": nodes[:1]}
        self.documents[second] = {"count": len(nodes), "next": None, "previous": listing, "results": nodes[1:]}


@contextmanager
def fake_awx(token: str) -> Iterator[FakeAwx]:
    awx = FakeAwx(token)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = re.sub(r"\?.*$", "", self.path)
            awx.requests.append(self.path)
            if self.headers.get("Authorization") != f"Bearer {awx.token}":
                self._answer(401, {"detail": "Authentication credentials were not provided."})
            elif self.path in awx.documents or path in awx.documents:
                self._answer(200, awx.documents.get(self.path, awx.documents.get(path)))
            else:
                self._answer(404, {"detail": "Not found."})

        def _answer(self, status: int, document: Any) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    awx.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield awx
    finally:
        server.shutdown()
        server.server_close()
