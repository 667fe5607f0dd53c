"""The fake's API semantics, called directly (the integration tests drive it through the unmodified modules), and
the gcp role's filters on the documents it returns."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from shieldops_ansible.providers.gcp.sandbox import AGENT_ACCOUNT, AUDIENCE, READER_ACCOUNT, _seed

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "collections"))
from ansible_collections.shieldops.connectors.plugins.filter import gcp as filters

P = "/compute/v1/projects/shieldops-sandbox"


class Client:
    def __init__(self) -> None:
        self.fake = _seed({"agent": "subject-a", "reader": "subject-r"})
        self.tokens = {account: self._impersonate(account) for account in (AGENT_ACCOUNT, READER_ACCOUNT)}

    def _sts(self, subject_token: str, audience: str = AUDIENCE) -> tuple[int, dict[str, Any]]:
        form = {
            "grant_type": "urn:ietf:params:oauth:grant-type:token-exchange",
            "audience": audience,
            "subject_token": subject_token + "\n",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        }
        return self.fake.handle("POST", "sts.googleapis.com", "/v1/token", {}, {}, urlencode(form).encode())

    def _impersonate(self, account: str, subject_token: str = "subject-a") -> str:
        federated = self._sts(subject_token)[1]["access_token"]
        status, body = self.call(
            "POST",
            f"/v1/projects/-/serviceAccounts/{account}:generateAccessToken",
            host="iamcredentials.googleapis.com",
            token=federated,
            body={"lifetime": "3600s"},
        )
        assert status == 200, body
        return str(body["accessToken"])

    def call(
        self,
        method: str,
        path: str,
        *,
        host: str = "compute.googleapis.com",
        token: str | None = None,
        query: dict[str, str] | None = None,
        body: Any = None,
    ) -> tuple[int, dict[str, Any]]:
        headers = {"authorization": f"Bearer {token or self.tokens[AGENT_ACCOUNT]}"}
        raw = json.dumps(body).encode() if body is not None else b""
        return self.fake.handle(method, host, path, query or {}, headers, raw)


@pytest.fixture
def client() -> Client:
    return Client()


def test_sts_checks_the_audience_and_the_subject_token(client: Client) -> None:
    status, body = client._sts("subject-a", audience=AUDIENCE + "-other")
    assert status == 400 and body == {"error": "invalid_target", "error_description": body["error_description"]}
    assert client._sts("forged")[1]["error"] == "invalid_grant"
    status, body = client._sts("subject-r")
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] == 3600


def test_impersonation_is_allowed_only_to_mapped_subjects(client: Client) -> None:
    federated = client._sts("subject-r")[1]["access_token"]
    status, body = client.call(
        "POST",
        f"/v1/projects/-/serviceAccounts/{AGENT_ACCOUNT}:generateAccessToken",
        host="iamcredentials.googleapis.com",
        token=federated,
    )
    assert status == 403 and body["error"]["status"] == "PERMISSION_DENIED"


def test_tokens_are_checked_and_the_reader_only_reads(client: Client) -> None:
    status, body = client.call("GET", f"{P}/zones/europe-west1-b/instances/web-1", token="ya29.unknown")
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    reader = client.tokens[READER_ACCOUNT]
    assert client.call("GET", f"{P}/zones/europe-west1-b/instances/web-1", token=reader)[0] == 200
    status, body = client.call("POST", f"{P}/zones/europe-west1-b/instances/web-1/stop", token=reader)
    assert status == 403 and body["error"]["errors"][0]["reason"] == "forbidden"
    assert "compute.instances.stop" in body["error"]["message"]


def test_a_stop_runs_as_an_operation(client: Client) -> None:
    status, operation = client.call("POST", f"{P}/zones/europe-west1-b/instances/web-1/stop")
    assert status == 200 and operation["status"] == "RUNNING" and operation["operationType"] == "stop"
    assert client.call("GET", f"{P}/zones/europe-west1-b/instances/web-1")[1]["status"] == "STOPPING"
    done = client.call("POST", f"{P}/zones/europe-west1-b/operations/{operation['name']}/wait")[1]
    assert done["status"] == "DONE" and done["targetLink"].endswith("/instances/web-1")
    assert client.call("GET", f"{P}/zones/europe-west1-b/instances/web-1")[1]["status"] == "TERMINATED"
    status, body = client.call("POST", f"{P}/zones/europe-west1-b/instances/web-1/reset")
    assert status == 400 and body["error"]["errors"][0]["reason"] == "resourceNotReady"


def test_set_labels_checks_the_fingerprint(client: Client) -> None:
    instance = client.call("GET", f"{P}/zones/europe-west1-b/instances/web-1")[1]
    stale = {"labels": {"app": "x"}, "labelFingerprint": "c3RhbGU="}
    status, body = client.call("POST", f"{P}/zones/europe-west1-b/instances/web-1/setLabels", body=stale)
    assert status == 412 and body["error"]["errors"][0]["reason"] == "conditionNotMet"
    fresh = {"labels": {"app": "x"}, "labelFingerprint": instance["labelFingerprint"]}
    assert client.call("POST", f"{P}/zones/europe-west1-b/instances/web-1/setLabels", body=fresh)[0] == 200


def test_aggregated_list_pages_across_zones(client: Client) -> None:
    first = client.call("GET", f"{P}/aggregated/instances", query={"maxResults": "1"})[1]
    assert first["items"]["zones/europe-west1-b"]["instances"][0]["name"] == "web-1"
    assert "warning" in first["items"]["zones/europe-west1-c"] and first["nextPageToken"]
    second = client.call(
        "GET", f"{P}/aggregated/instances", query={"maxResults": "1", "pageToken": first["nextPageToken"]}
    )
    assert second[1]["items"]["zones/europe-west1-c"]["instances"][0]["name"] == "web-2"
    assert "nextPageToken" not in second[1]
    zone = client.call(
        "GET", f"{P}/zones/europe-west1-b/instances", query={"filter": "(name = web-1) (labels.app = web)"}
    )
    assert [i["name"] for i in zone[1]["items"]] == ["web-1"]
    assert client.call("GET", f"{P}/zones/europe-west1-b/instances", query={"filter": "name ~ web"})[0] == 400


def test_logging_filters_and_rejects_what_it_cannot_parse(client: Client) -> None:
    name = "projects/shieldops-sandbox/zones/europe-west1-c/instances/web-2"
    query = f'logName:"cloudaudit.googleapis.com" AND protoPayload.resourceName="{name}"'
    request = {"resourceNames": ["projects/shieldops-sandbox"], "filter": query}
    status, body = client.call("POST", "/v2/entries:list", host="logging.googleapis.com", body=request)
    methods = [e["protoPayload"]["methodName"] for e in body["entries"]]
    assert status == 200 and methods == ["v1.compute.instances.insert", "compute.instances.guestTerminate"]
    request["filter"] = "resource.labels.zone=x OR true"
    assert client.call("POST", "/v2/entries:list", host="logging.googleapis.com", body=request)[0] == 400


def test_unknown_hosts_and_paths_are_google_style_404s(client: Client) -> None:
    status, body = client.call("GET", "/v1/whatever", host="storage.googleapis.com")
    assert status == 404 and set(body["error"]) == {"code", "message", "errors", "status"}


def test_resource_normalisation_and_locations() -> None:
    fake = _seed({})
    instances = [dict(i, zone=z) for (z, _), i in sorted(fake.instances.items())]
    resources = [filters.gcp_instance_resource(i, "gcp", "shieldops-sandbox") for i in instances]
    assert [(r["state"], r["region"]) for r in resources] == [
        ("running", "europe-west1-b"),
        ("stopped", "europe-west1-c"),
    ]
    assert filters.gcp_in_location(resources, "europe-west1") == resources
    assert filters.gcp_in_location(resources, "europe-west1-c") == resources[1:]
    with pytest.raises(Exception, match="is not a region or zone"):
        filters.gcp_in_location(resources, "europe-west")


def test_snapshot_names_fit_compute_engine() -> None:
    assert filters.gcp_snapshot_name("snap-0123456789abcdef0123", 0) == "snap-0123456789abcdef0123-0"
    long_id = "snap-" + "a" * 63
    name = filters.gcp_snapshot_name(long_id, 12)
    assert len(name) <= 63 and name != filters.gcp_snapshot_name("snap-" + "a" * 62 + "b", 12)
    assert filters.gcp_snapshot_labels(long_id, "web-1")["shieldops-snapshot"] == long_id[:63]
