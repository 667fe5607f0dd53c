"""The fake ARM's semantics, called directly through FakeAzure.handle, and a few runs of the unmodified
azure.azcollection modules against it through the intercepting TLS proxy (the real path, marked integration)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import pytest

from shieldops_ansible.providers.azure.fake_arm import (
    OPERATOR_CLIENT_ID,
    READER_CLIENT_ID,
    SUBSCRIPTION_ID,
    TENANT_ID,
    WORKLOAD_CLIENT_ID,
    FakeAzure,
    FakeAzureServer,
    sandbox_state,
)
from shieldops_ansible.sandbox.intercepting_proxy import InterceptingProxy
from shieldops_ansible.sandbox.tls import TestCA
from tests.support import run_local_play

ARM = "management.azure.com"
RG_WEB = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-web"
WEB_1 = f"{RG_WEB}/providers/Microsoft.Compute/virtualMachines/web-1"
WEB_2 = f"{RG_WEB}/providers/Microsoft.Compute/virtualMachines/web-2"
SITE = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-functions/providers/Microsoft.Web/sites/thumbnailer"
RG_AKS = f"/subscriptions/{SUBSCRIPTION_ID}/resourceGroups/rg-aks"
CLUSTER = f"{RG_AKS}/providers/Microsoft.ContainerService/managedClusters/sandbox"
# JWT-shaped, as a kubelet's projected service account token is; opaque to the fake.
FEDERATED_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6b3BzOnNoaWVsZG9wcyJ9.c2ln"


class Client:
    """Calls FakeAzure.handle as the SDKs would, with tokens from the fake's own IMDS endpoint."""

    def __init__(self) -> None:
        self.fake = sandbox_state(FEDERATED_TOKEN)
        self.tokens = {
            c: self.imds({"client_id": c})[2]["access_token"] for c in (OPERATOR_CLIENT_ID, READER_CLIENT_ID)
        }

    def imds(self, query: dict[str, str], metadata: bool = True) -> tuple[int, dict[str, str], Any]:
        query = {"api-version": "2018-02-01", "resource": "https://management.azure.com/", **query}
        headers = {"Metadata": "true"} if metadata else {}
        return self.fake.handle("GET", "127.0.0.1:5000", "/metadata/identity/oauth2/token", query, headers, b"")

    def call(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        query: dict[str, str] | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        sent = {"Authorization": f"Bearer {token or self.tokens[OPERATOR_CLIENT_ID]}"} if headers is None else headers
        raw = json.dumps(body).encode() if body is not None else b""
        return self.fake.handle(method, ARM, path, {"api-version": "2024-07-01", **(query or {})}, sent, raw)

    def poll(self, headers: dict[str, str]) -> dict[str, Any]:
        url = urlparse(headers["Azure-AsyncOperation"])
        status, _, document = self.call("GET", url.path, query=dict(parse_qsl(url.query)))
        assert status == 200
        return dict(document)

    def settle(self, headers: dict[str, str]) -> None:
        """Poll as an SDK poller does until the operation is no longer InProgress."""
        for _ in range(5):
            if self.poll(headers)["status"] != "InProgress":
                return
        raise AssertionError("the operation never settled")


@pytest.fixture
def client() -> Client:
    return Client()


def power(client: Client, vm: str) -> str:
    view = client.call("GET", f"{vm}/instanceView")[2]
    return str(next(s["code"] for s in view["statuses"] if s["code"].startswith("PowerState/")))


def test_ids_are_case_insensitive_and_answered_canonically(client: Client) -> None:
    status, _, vm = client.call(
        "GET", WEB_1.upper().replace("SUBSCRIPTIONS", "subscriptions"), query={"$expand": "instanceView"}
    )
    assert status == 200 and vm["id"] == WEB_1 and vm["name"] == "web-1"
    codes = [s["code"] for s in vm["properties"]["instanceView"]["statuses"]]
    assert codes == ["ProvisioningState/succeeded", "PowerState/running"]
    assert vm["properties"]["instanceView"]["vmAgent"]["statuses"][0]["displayStatus"] == "Ready"
    status, _, body = client.call("GET", f"{RG_WEB}/providers/Microsoft.Compute/virtualMachines/web-9")
    assert status == 404 and body["error"]["code"] == "ResourceNotFound" and "web-9" in body["error"]["message"]
    status, _, body = client.call("GET", WEB_1.replace("rg-web", "rg-none"))
    assert status == 404 and body["error"]["code"] == "ResourceGroupNotFound"
    status, _, body = client.fake.handle(
        "GET", ARM, WEB_1, {}, {"Authorization": f"Bearer {client.tokens[OPERATOR_CLIENT_ID]}"}, b""
    )
    assert status == 400 and body["error"]["code"] == "MissingApiVersionParameter"


def test_tokens_are_required_and_checked(client: Client) -> None:
    status, headers, body = client.call("GET", WEB_1, headers={})
    assert status == 401 and body["error"]["code"] == "InvalidAuthenticationToken"
    assert headers["WWW-Authenticate"].startswith(
        f'Bearer authorization_uri="https://login.microsoftonline.com/{TENANT_ID}"'
    )
    status, _, body = client.call("GET", WEB_1, token="forged")
    assert status == 401 and body["error"]["message"] == "The access token is invalid."
    token = client.tokens[READER_CLIENT_ID]
    client.fake._tokens[token].expires_at = time.time() - 1
    assert client.call("GET", WEB_1, token=token)[0] == 401
    # IMDS: the Metadata header is required, an unknown identity is a 400, no client id is the system identity.
    assert client.imds({}, metadata=False)[2]["error_description"] == "Required metadata header not specified"
    assert (
        client.imds({"client_id": "0a1b2c3d-0000-4000-8000-00000000ffff"})[2]["error_description"]
        == "Identity not found"
    )
    system = client.imds({})[2]
    assert system["token_type"] == "Bearer" and system["expires_in"] == "3600"
    status, _, body = client.call("POST", f"{WEB_1}/deallocate", token=system["access_token"])
    assert status == 403 and body["error"]["code"] == "AuthorizationFailed"


def test_the_reader_may_not_write_and_the_refusal_is_logged(client: Client) -> None:
    reader = client.tokens[READER_CLIENT_ID]
    assert client.call("GET", WEB_1, token=reader)[0] == 200
    status, _, body = client.call("POST", f"{WEB_1}/deallocate", token=reader)
    assert status == 403 and body["error"]["code"] == "AuthorizationFailed"
    assert "'Microsoft.Compute/virtualMachines/deallocate/action'" in body["error"]["message"]
    assert READER_CLIENT_ID in body["error"]["message"]
    status, _, body = client.call("PATCH", WEB_1, token=reader, body={"tags": {"a": "b"}})
    assert status == 403 and "'Microsoft.Compute/virtualMachines/write'" in body["error"]["message"]
    assert power(client, WEB_1) == "PowerState/running"
    failed = [e for e in client.fake.events if e["status"]["value"] == "Failed"]
    assert [e["authorization"]["action"] for e in failed] == [
        "Microsoft.Compute/virtualMachines/deallocate/action",
        "Microsoft.Compute/virtualMachines/write",
    ]


def test_a_deallocate_is_a_long_running_operation(client: Client) -> None:
    status, headers, body = client.call("POST", f"{WEB_1}/deallocate")
    assert status == 202 and body is None and "/operationResults/" in headers["Location"]
    assert power(client, WEB_1) == "PowerState/deallocating"
    assert client.call("GET", WEB_1)[2]["properties"]["provisioningState"] == "Updating"
    assert client.call("POST", f"{WEB_1}/start")[0] == 409  # another operation is in flight
    first, second = client.poll(headers), client.poll(headers)
    assert (first["status"], second["status"]) == ("InProgress", "Succeeded")
    assert power(client, WEB_1) == "PowerState/deallocated"
    view = client.call("GET", f"{WEB_1}/instanceView")[2]
    assert view["vmAgent"]["statuses"][0]["displayStatus"] == "Not Ready"
    data_disk = client.call("GET", f"{RG_WEB}/providers/Microsoft.Compute/disks/web-1-data-0")[2]
    assert data_disk["properties"]["diskState"] == "Reserved" and data_disk["managedBy"] == WEB_1
    location = urlparse(headers["Location"])
    assert client.call("GET", location.path, query=dict(parse_qsl(location.query)))[0] == 204
    events = [e for e in client.fake.events if e["resourceId"] == WEB_1 and "deallocate" in e["operationName"]["value"]]
    assert [e["status"]["value"] for e in events] == ["Started", "Succeeded"]
    assert events[0]["correlationId"] == events[1]["correlationId"]
    status, _, body = client.call("POST", f"{WEB_1}/restart")
    assert status == 409 and body["error"]["code"] == "OperationNotAllowed"


def test_swap_os_disk_needs_a_deallocated_vm_and_restores_the_snapshot(client: Client) -> None:
    disks = f"{RG_WEB}/providers/Microsoft.Compute"
    os_disk = f"{disks}/disks/web-1-osdisk"
    client.fake.content[os_disk.lower()] = "good data"
    snap = {
        "location": "westeurope",
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": os_disk}},
    }
    status, headers, _ = client.call("PUT", f"{disks}/snapshots/snap-1", body=snap)
    assert status == 202
    client.settle(headers)
    client.fake.content[os_disk.lower()] = "corrupted"
    restored = {
        "location": "westeurope",
        "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": f"{disks}/snapshots/SNAP-1"}},
    }
    status, headers, disk = client.call("PUT", f"{disks}/disks/restored", body=restored)
    assert status == 202 and disk["properties"]["osType"] == "Linux" and disk["properties"]["diskState"] == "Unattached"
    client.settle(headers)
    swap = {"properties": {"storageProfile": {"osDisk": {"managedDisk": {"id": f"{disks}/disks/restored"}}}}}
    status, _, body = client.call("PATCH", WEB_1, body=swap)
    assert status == 409 and body["error"]["code"] == "OperationNotAllowed"
    client.settle(client.call("POST", f"{WEB_1}/deallocate")[1])
    status, headers, _ = client.call("PATCH", WEB_1, body=swap)
    assert status == 200
    client.settle(headers)
    vm = client.call("GET", WEB_1)[2]
    assert vm["properties"]["storageProfile"]["osDisk"]["name"] == "restored"
    assert client.fake.content[vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"].lower()] == "good data"
    old = client.call("GET", os_disk)[2]
    assert old["properties"]["diskState"] == "Unattached" and "managedBy" not in old
    assert client.call("DELETE", f"{disks}/disks/restored")[2]["error"]["code"] == "OperationNotAllowed"


def test_lists_page_with_next_link(client: Client) -> None:
    client.fake.page_size = 1
    path = f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Compute/virtualMachines"
    names, query = [], {"api-version": "2024-07-01"}
    for _ in range(5):
        body = client.call("GET", path, query=query)[2]
        names += [vm["name"] for vm in body["value"]]
        if "nextLink" not in body:
            break
        link = urlparse(body["nextLink"])
        assert link.netloc == ARM and link.path == path
        query = dict(parse_qsl(link.query))
    assert names == ["web-1", "web-2"]


def test_the_activity_log_filters_and_pages(client: Client) -> None:
    now = time.time()
    window = f"eventTimestamp ge '{_iso(now - 2 * 86400)}' and eventTimestamp le '{_iso(now + 60)}'"
    path = f"/subscriptions/{SUBSCRIPTION_ID}/providers/Microsoft.Insights/eventtypes/management/values"
    body = client.call("GET", path, query={"$filter": f"{window} and resourceUri eq '{WEB_2.upper()}'"})[2]
    assert [e["operationName"]["value"].rsplit("/", 2)[-2] for e in body["value"]] == [
        "deallocate",
        "deallocate",
        "virtualMachines",
        "virtualMachines",
    ]
    assert (
        body["value"][0]["status"]["value"] == "Succeeded" and body["value"][0]["category"]["value"] == "Administrative"
    )
    status, _, error = client.call("GET", path, query={"$filter": f"resourceUri eq '{WEB_2}'"})
    assert status == 400 and "eventTimestamp ge" in error["error"]["message"]
    client.fake.page_size = 3
    first = client.call("GET", path, query={"$filter": window})[2]
    assert len(first["value"]) == 3 and "$skiptoken=" in first["nextLink"]


def test_metrics_and_health_follow_the_power_state(client: Client) -> None:
    now = time.time()
    query = {
        "metricnames": "Percentage CPU",
        "timespan": f"{_iso(now - 600)}/{_iso(now)}",
        "interval": "PT1M",
        "aggregation": "Average",
    }
    running = client.call("GET", f"{WEB_1}/providers/Microsoft.Insights/metrics", query=query)[2]
    points = running["value"][0]["timeseries"][0]["data"]
    assert running["value"][0]["unit"] == "Percent" and 9 <= len(points) <= 11 and 18 < points[0]["average"] < 28
    stopped = client.call("GET", f"{WEB_2}/providers/Microsoft.Insights/metrics", query=query)[2]
    assert all("average" not in p for p in stopped["value"][0]["timeseries"][0]["data"])
    status, _, body = client.call(
        "GET", f"{WEB_1}/providers/Microsoft.Insights/metrics", query={**query, "metricnames": "Nope"}
    )
    assert status == 400 and "Percentage CPU" in body["error"]["message"]
    health = f"{WEB_2}/providers/Microsoft.ResourceHealth/availabilityStatuses"
    current = client.call("GET", f"{health}/current")[2]["properties"]
    assert current["availabilityState"] == "Unavailable" and current["reasonType"] == "Customer Initiated"
    history = client.call("GET", health)[2]["value"]
    assert [h["properties"]["availabilityState"] for h in history] == ["Unavailable", "Available"]
    client.settle(client.call("POST", f"{WEB_2}/start")[1])
    assert client.call("GET", f"{health}/current")[2]["properties"]["availabilityState"] == "Available"


def test_workload_identity_token_exchange(client: Client) -> None:
    def exchange(assertion: str, client_id: str = WORKLOAD_CLIENT_ID) -> tuple[int, dict[str, str], Any]:
        form = {
            "client_assertion": assertion,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_id": client_id,
            "grant_type": "client_credentials",
            "scope": "https://management.azure.com/.default",
        }
        return client.fake.handle(
            "POST", "login.microsoftonline.com", f"/{TENANT_ID}/oauth2/v2.0/token", {}, {}, urlencode(form).encode()
        )

    status, _, body = exchange("eyJ.forged.sig")
    assert status == 401 and body["error"] == "invalid_client" and body["error_codes"] == [700213]
    status, _, body = exchange(FEDERATED_TOKEN, client_id="0a1b2c3d-0000-4000-8000-00000000ffff")
    assert status == 400 and body["error"] == "unauthorized_client"
    status, _, body = exchange(FEDERATED_TOKEN + "\n")
    assert status == 200 and body["token_type"] == "Bearer" and body["expires_in"] > 3000
    client.settle(client.call("POST", f"{WEB_2}/start", token=body["access_token"])[1])
    assert power(client, WEB_2) == "PowerState/running"


def test_function_app_slot_swap_and_settings(client: Client) -> None:
    settings = client.call("POST", f"{SITE}/config/appsettings/list")[2]["properties"]
    assert settings["APP_VERSION"] == "1.4.2"
    assert client.call("POST", f"{SITE}/config/appsettings/list", token=client.tokens[READER_CLIENT_ID])[0] == 403
    status, headers, _ = client.call("POST", f"{SITE}/slotsswap", body={"targetSlot": "staging", "preserveVnet": True})
    assert status == 202
    client.settle(headers)
    assert client.call("POST", f"{SITE}/config/appsettings/list")[2]["properties"]["APP_VERSION"] == "1.5.0"
    assert (
        client.call("POST", f"{SITE}/slots/staging/config/appsettings/list")[2]["properties"]["APP_VERSION"] == "1.4.2"
    )
    assert client.call("POST", f"{SITE}/stop")[0] == 200
    site = client.call("GET", SITE)[2]
    assert site["properties"]["state"] == "Stopped" and site["kind"] == "functionapp,linux"
    assert client.call("GET", f"{SITE}/hostruntime/admin/host/status")[2]["state"] == "Stopped"


def test_an_agent_pool_put_scales_and_keeps_immutables(client: Client) -> None:
    pool = f"{CLUSTER}/agentPools/user"
    live = client.call("GET", pool)[2]
    changed = {"properties": {**live["properties"], "vmSize": "Standard_D8ds_v5"}}
    status, _, body = client.call("PUT", pool, body=changed)
    assert status == 400 and body["error"]["code"] == "PropertyChangeNotAllowed"
    status, headers, body = client.call("PUT", pool, body={"properties": {**live["properties"], "count": 5}})
    assert status == 200 and body["properties"]["provisioningState"] == "Scaling"
    client.settle(headers)
    cluster = client.call("GET", CLUSTER)[2]
    pools = {p["name"]: p for p in cluster["properties"]["agentPoolProfiles"]}
    assert (
        pools["user"]["count"] == 5
        and pools["user"]["provisioningState"] == "Succeeded"
        and pools["system"]["count"] == 3
    )


def _iso(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


# --- the real path: unmodified modules, azure-identity and the SDKs, through the TLS proxy --------------------------


@dataclass
class Estate:
    fake: FakeAzure
    env: dict[str, str]
    directory: Path
    log: list[str]

    def play(self, tasks: list[dict[str, Any]], **env: str) -> Any:
        return run_local_play({"tasks": tasks}, self.directory, {**self.env, **env})


@pytest.fixture
def estate(tmp_path: Path) -> Iterator[Estate]:
    fake = sandbox_state(FEDERATED_TOKEN)
    log: list[str] = []
    server = FakeAzureServer(fake, log=log.append)
    server.start()
    ca = TestCA.create(tmp_path / "ca")
    proxy = InterceptingProxy(
        {ARM: ("127.0.0.1", server.port), "login.microsoftonline.com": ("127.0.0.1", server.port)}, ca
    )
    proxy.start()
    (tmp_path / "home").mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "ANSIBLE_AZURE_AUTH_SOURCE": "msi",
        "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION_ID,
        "AZURE_CLIENT_ID": OPERATOR_CLIENT_ID,
        "AZURE_POD_IDENTITY_AUTHORITY_HOST": f"http://127.0.0.1:{server.port}",
        "HTTPS_PROXY": proxy.url,
        "NO_PROXY": "127.0.0.1,localhost",
        # This machine points both at the system bundle; the run must trust only the test CA.
        "REQUESTS_CA_BUNDLE": str(ca.cert_path),
        "CURL_CA_BUNDLE": str(ca.cert_path),
    }
    try:
        yield Estate(fake, env, tmp_path, log)
    finally:
        proxy.stop()
        server.stop()


def _power_of(fake: FakeAzure, vm: str) -> str:
    return fake.compute.power[vm.lower()]


@pytest.mark.integration
def test_modules_list_vms_and_deallocate_one(estate: Estate) -> None:
    vm = {"resource_group": "rg-web", "name": "web-1", "allocated": False}
    result = estate.play(
        [
            {"azure.azcollection.azure_rm_virtualmachine_info": {"tags": ["app:web"]}, "register": "listed"},
            {"azure.azcollection.azure_rm_virtualmachine": vm, "check_mode": True, "register": "planned"},
            {"azure.azcollection.azure_rm_virtualmachine": vm, "register": "done"},
            {
                "ansible.builtin.copy": {
                    "dest": str(estate.directory / "out.json"),
                    "content": "{{ {'listed': listed, 'planned': planned, 'done': done} | to_json }}",
                }
            },
        ]
    )
    assert result.returncode == 0, result.stdout[-3000:]
    out = json.loads((estate.directory / "out.json").read_text())
    assert {v["name"]: v["power_state"] for v in out["listed"]["vms"]} == {"web-1": "running", "web-2": "deallocated"}
    assert out["planned"]["changed"] and out["planned"]["powerstate_change"] == "deallocated"
    assert out["done"]["changed"] and out["done"]["ansible_facts"]["azure_vm"]["powerstate"] == "deallocated"
    assert _power_of(estate.fake, WEB_1) == "deallocated"
    writes = [line for line in estate.log if line.startswith(("POST", "PUT", "PATCH", "DELETE"))]
    assert writes == [f"POST {ARM}{WEB_1}/deallocate 202"], writes  # check mode wrote nothing; no PUT of the VM
    assert not any("token" in line.lower() and "?" in line for line in estate.log)


@pytest.mark.integration
def test_the_readers_deallocate_fails_with_authorization_failed(estate: Estate) -> None:
    task = {
        "azure.azcollection.azure_rm_virtualmachine": {"resource_group": "rg-web", "name": "web-1", "allocated": False}
    }
    result = estate.play([task], AZURE_CLIENT_ID=READER_CLIENT_ID)
    assert result.returncode != 0
    assert (
        "AuthorizationFailed" in result.stdout
        and "Microsoft.Compute/virtualMachines/deallocate/action" in result.stdout
    )
    assert _power_of(estate.fake, WEB_1) == "running"


@pytest.mark.integration
def test_workload_identity_snapshot_and_restore_a_disk(estate: Estate) -> None:
    token_file = estate.directory / "federated-token"
    token_file.write_text(FEDERATED_TOKEN)
    os_disk = f"{RG_WEB}/providers/Microsoft.Compute/disks/web-2-osdisk"
    estate.fake.content[os_disk.lower()] = "before the incident"
    tasks: list[dict[str, Any]] = [
        {
            "azure.azcollection.azure_rm_snapshot": {
                "resource_group": "rg-web",
                "name": "web-2-snap",
                "creation_data": {"create_option": "Copy", "source_id": os_disk},
            },
            "register": "snap",
        },
        {
            "azure.azcollection.azure_rm_manageddisk": {
                "resource_group": "rg-web",
                "name": "web-2-restored",
                "create_option": "copy",
                "source_resource_id": "{{ snap.id }}",
                "os_type": "linux",
            }
        },
        {
            "azure.azcollection.azure_rm_virtualmachine": {
                "resource_group": "rg-web",
                "name": "web-2",
                "allocated": False,
                "swap_os_disk": {"os_disk_name": "web-2-restored", "os_disk_resource_group": "rg-web"},
            }
        },
    ]
    result = estate.play(
        tasks,
        AZURE_CLIENT_ID=WORKLOAD_CLIENT_ID,
        AZURE_TENANT_ID=TENANT_ID,
        AZURE_FEDERATED_TOKEN_FILE=str(token_file),
        AZURE_AUTHORITY_HOST="https://login.microsoftonline.com",
        AZURE_POD_IDENTITY_AUTHORITY_HOST="http://127.0.0.1:9",  # IMDS must not be what authenticates this run
    )
    assert result.returncode == 0, result.stdout[-3000:]
    vm = estate.fake.resource(WEB_2)
    assert vm is not None and vm["properties"]["storageProfile"]["osDisk"]["name"] == "web-2-restored"
    restored = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
    assert estate.fake.content[restored.lower()] == "before the incident"
    workload = estate.fake.applications[WORKLOAD_CLIENT_ID].object_id
    assert {e["caller"] for e in estate.fake.events[-6:]} == {workload}
    assert any(
        line.startswith(f"POST login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token 200") for line in estate.log
    )
