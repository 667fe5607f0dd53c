"""The App Service part of the fake ARM: function apps (``Microsoft.Web/sites``, ``kind: functionapp,linux``) and
their deployment slots.

As the Microsoft.Web reference (2024-04-01; azure-mgmt-web 7.3.1 sends 2023-12-01) describes them:

- Sites and slots: ``GET``, lists per resource group and across the subscription (paged with ``nextLink``), and
  ``GET sites/N/slots``; ``state`` Running/Stopped, ``availabilityState`` Normal/Limited, ``enabled``,
  ``hostNames``, ``defaultHostName``.
- ``POST sites/N[/slots/S]/start|stop|restart``: synchronous, 200 with no body, as App Service answers.
- ``POST sites/N/slotsswap`` (``{"targetSlot", "preserveVnet"}``): a long-running operation (202 with polling
  headers) that exchanges the production site's and the slot's deployment and app settings when it settles.
- ``POST sites/N[/slots/S]/config/appsettings/list`` and ``PUT .../config/appsettings`` (the whole set replaced),
  the ``StringDictionary`` resource ``{"properties": {name: value}}``.
- The Functions host status through ARM's host runtime proxy: ``GET sites/N/hostruntime/admin/host/status``, the
  Functions admin API's document (``state`` Running, Error with ``errors``, or Stopped for a stopped app).
"""

from __future__ import annotations

import copy
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .fake_wire import ArmError, ArmPath, ArmRequest, Response, invalid_parameter, iso8601, not_found

if TYPE_CHECKING:
    from .fake_arm import FakeAzure

__all__ = ["Web"]

SITE_TYPE = "Microsoft.Web/sites"
SLOT_TYPE = "Microsoft.Web/sites/slots"


@dataclass
class Web:
    """The App Service state of the fake subscription; every call is made under FakeAzure's lock."""

    fake: FakeAzure
    # Lowercased site or slot id -> its app settings, and what is deployed there (swapped with the settings).
    settings: dict[str, dict[str, str]] = field(default_factory=dict)
    deployed: dict[str, str] = field(default_factory=dict)
    host_errors: dict[str, str] = field(default_factory=dict)  # lowercased site id -> why its host is in Error
    started: dict[str, float] = field(default_factory=dict)  # lowercased site id -> when its host started

    # --- seeding ----------------------------------------------------------------------------------------------

    def add_function_app(
        self,
        resource_group: str,
        name: str,
        state: str,
        slots: tuple[str, ...],
        runtime: str = "Python|3.11",
        app_settings: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        if state not in {"Running", "Stopped"}:
            raise ValueError(f"unknown site state {state}")
        site_id = (
            f"/subscriptions/{self.fake.subscription}/resourceGroups/{resource_group}/providers/{SITE_TYPE}/{name}"
        )
        settings = {
            "FUNCTIONS_EXTENSION_VERSION": "~4",
            "FUNCTIONS_WORKER_RUNTIME": runtime.split("|")[0].lower(),
            "AzureWebJobsStorage__accountName": f"st{name.replace('-', '')}",
            "APP_VERSION": "1.4.2",
            **(app_settings or {}),
        }
        site = self._document(site_id, SITE_TYPE, name, name, resource_group, state, runtime)
        self._store(site, settings, f"{name}: release 1.4.2")
        for slot in slots:
            slot_doc = self._document(
                f"{site_id}/slots/{slot}",
                SLOT_TYPE,
                f"{name}/{slot}",
                f"{name}-{slot}",
                resource_group,
                "Running",
                runtime,
            )
            self._store(slot_doc, {**settings, "APP_VERSION": "1.5.0"}, f"{name}: release 1.5.0")
        return site

    def _document(
        self, resource_id: str, type_: str, name: str, host: str, resource_group: str, state: str, runtime: str
    ) -> dict[str, Any]:
        hosts = [f"{host}.azurewebsites.net"]
        return {
            "id": resource_id,
            "name": name,
            "type": type_,
            "kind": "functionapp,linux",
            "location": "West Europe",
            "tags": {},
            "properties": {
                "name": name,
                "state": state,
                "hostNames": hosts,
                "webSpace": f"{resource_group}-WestEuropewebspace-Linux",
                "selfLink": f"https://waws-prod-am2-555.api.azurewebsites.windows.net:454/subscriptions/"
                f"{self.fake.subscription}/webspaces/{resource_group}-WestEuropewebspace-Linux/sites/{host}",
                "repositorySiteName": host.split("-")[0] if type_ == SLOT_TYPE else host,
                "usageState": "Normal",
                "enabled": True,
                "adminEnabled": True,
                "enabledHostNames": [*hosts, f"{host}.scm.azurewebsites.net"],
                "availabilityState": "Normal",
                "hostNameSslStates": [
                    {"name": hosts[0], "sslState": "Disabled", "hostType": "Standard"},
                    {"name": f"{host}.scm.azurewebsites.net", "sslState": "Disabled", "hostType": "Repository"},
                ],
                "serverFarmId": f"/subscriptions/{self.fake.subscription}/resourceGroups/{resource_group}/providers/"
                f"Microsoft.Web/serverfarms/WestEuropeLinuxDynamicPlan",
                "reserved": True,
                "isXenon": False,
                "hyperV": False,
                "lastModifiedTimeUtc": iso8601(time.time() - 86400),
                "siteConfig": {
                    "numberOfWorkers": 1,
                    "linuxFxVersion": runtime,
                    "alwaysOn": False,
                    "http20Enabled": False,
                },
                "scmSiteAlsoStopped": False,
                "clientAffinityEnabled": False,
                "clientCertEnabled": False,
                "hostNamesDisabled": False,
                "containerSize": 1536,
                "dailyMemoryTimeQuota": 0,
                "resourceGroup": resource_group,
                "defaultHostName": hosts[0],
                "httpsOnly": True,
                "redundancyMode": "None",
                "storageAccountRequired": False,
                "keyVaultReferenceIdentity": "SystemAssigned",
                "sku": "Dynamic",
                "slotSwapStatus": None,
            },
        }

    def _store(self, doc: dict[str, Any], settings: dict[str, str], deployed: str) -> None:
        key = doc["id"].lower()
        self.fake.resources[key] = doc
        self.settings[key] = dict(settings)
        self.deployed[key] = deployed
        self.started[key] = time.time() - 86400

    def set_host_error(self, site_id: str, error: Any) -> tuple[int, Any]:
        """The backdoor: put a site's Functions host in Error (``error`` a message) or back to normal (None)."""
        site = self.fake.resource(site_id)
        if site is None or site["type"] != SITE_TYPE:
            return 404, {"error": "no such site"}
        key = site["id"].lower()
        if error:
            self.host_errors[key] = str(error)
        else:
            self.host_errors.pop(key, None)
        site["properties"]["availabilityState"] = "Limited" if error else "Normal"
        return 200, self._host_status(site)

    # --- dispatch ---------------------------------------------------------------------------------------------

    def handle(self, request: ArmRequest, path: ArmPath) -> Response:
        types = [t.lower() for t in path.types]
        names = [n.lower() for n in path.names]
        action = (path.action or "").lower()
        if types == ["sites"] and not names:
            if request.method != "GET" or action:
                raise _unknown(path)
            return Response(200, self._list(request, path))
        if not types or types[0] != "sites" or not names:
            raise _unknown(path)
        site = self.fake.resource(path.resource_id(1))
        if site is None:
            raise not_found(path)
        if types == ["sites", "slots"] and len(names) == 2:
            slot = self.fake.resource(path.resource_id(2))
            if slot is None:
                raise not_found(path)
            return self._app(request, path, slot, action)
        if types == ["sites", "slots", "config"] and names[2:] == ["appsettings"]:
            slot = self.fake.resource(path.resource_id(2))
            if slot is None:
                raise not_found(path)
            return self._app_settings(request, slot, action)
        if types == ["sites"]:
            if action == "slots" and request.method == "GET":
                self.fake.authorize(request, f"{SLOT_TYPE}/read", site["id"])
                prefix = site["id"].lower() + "/slots/"
                slots = [self._view(d) for k, d in sorted(self.fake.resources.items()) if k.startswith(prefix)]
                return Response(200, self.fake.page(slots, request))
            if action == "slotsswap" and request.method == "POST":
                return self._swap(request, site)
            return self._app(request, path, site, action)
        if types == ["sites", "config"] and names[1:] == ["appsettings"]:
            return self._app_settings(request, site, action)
        if types == ["sites", "hostruntime", "host"] and names[1:] == ["admin", "status"] and request.method == "GET":
            self.fake.authorize(request, f"{SITE_TYPE}/hostruntime/host/read", site["id"])
            return Response(200, self._host_status(site))
        raise _unknown(path)

    def _list(self, request: ArmRequest, path: ArmPath) -> dict[str, Any]:
        return self.fake.list_page(request, path, SITE_TYPE, self._view)

    def _view(self, doc: dict[str, Any]) -> dict[str, Any]:
        return copy.deepcopy(doc)

    def _app(self, request: ArmRequest, path: ArmPath, app: dict[str, Any], action: str) -> Response:
        """A site or a slot: GET, and the synchronous start, stop and restart."""
        if request.method == "GET" and not action:
            self.fake.authorize(request, f"{app['type']}/read", app["id"])
            return Response(200, self._view(app))
        if request.method == "POST" and action in {"start", "stop", "restart"}:
            properties = app["properties"]
            key = app["id"].lower()

            def change() -> None:
                if action == "start":
                    if properties["state"] != "Running":
                        self.started[key] = time.time()
                    properties["state"] = "Running"
                elif action == "stop":
                    properties["state"] = "Stopped"
                elif properties["state"] == "Running":
                    self.started[key] = time.time()
                properties["lastModifiedTimeUtc"] = iso8601(time.time())

            self.fake.write(request, f"{app['type']}/{action}/action", app["id"], change)
            return Response(200)
        raise _unknown(path)

    def _app_settings(self, request: ArmRequest, app: dict[str, Any], action: str) -> Response:
        key = app["id"].lower()
        if request.method == "POST" and action == "list":
            # Listing settings is an action (they hold secrets): a Reader may not.
            self.fake.authorize(request, f"{app['type']}/config/list/action", app["id"])
            return Response(200, self._settings_document(app))
        if request.method == "PUT" and not action:
            body = request.body if isinstance(request.body, dict) else {}
            values = body.get("properties")
            if not isinstance(values, dict) or not all(isinstance(v, str) for v in values.values()):
                raise invalid_parameter('The app settings must be {"properties": {name: string value}}.', "BadRequest")

            def replace() -> None:
                self.settings[key] = dict(values)

            self.fake.write(request, f"{app['type']}/config/write", app["id"], replace)
            return Response(200, self._settings_document(app))
        raise ArmError(405, "MethodNotAllowed", f"{request.method} is not allowed on {request.path}.")

    def _settings_document(self, app: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": f"{app['id']}/config/appsettings",
            "name": "appsettings",
            "type": f"{app['type']}/config",
            "location": app["location"],
            "tags": {},
            "properties": dict(self.settings[app["id"].lower()]),
        }

    def _swap(self, request: ArmRequest, site: dict[str, Any]) -> Response:
        action = f"{SITE_TYPE}/slotsswap/action"
        self.fake.authorize(request, action, site["id"])
        body = request.body if isinstance(request.body, dict) else {}
        target = body.get("targetSlot")
        if not isinstance(target, str) or not target:
            raise invalid_parameter("The parameter 'targetSlot' is required.", "BadRequest")
        slot = self.fake.resource(f"{site['id']}/slots/{target}")
        if slot is None:
            raise ArmError(404, "NotFound", f"Cannot find slot '{target}' of site '{site['name']}'.")
        if "preserveVnet" not in body:
            raise invalid_parameter("The parameter 'preserveVnet' is required.", "BadRequest")
        production, staging = site["id"].lower(), slot["id"].lower()

        def swap() -> None:
            self.settings[production], self.settings[staging] = self.settings[staging], self.settings[production]
            self.deployed[production], self.deployed[staging] = self.deployed[staging], self.deployed[production]
            runtime = site["properties"]["siteConfig"]["linuxFxVersion"]
            site["properties"]["siteConfig"]["linuxFxVersion"] = slot["properties"]["siteConfig"]["linuxFxVersion"]
            slot["properties"]["siteConfig"]["linuxFxVersion"] = runtime
            self.started[production] = self.started[staging] = time.time()
            site["properties"]["slotSwapStatus"] = {
                "timestampUtc": iso8601(time.time()),
                "sourceSlotName": slot["name"].split("/")[-1],
                "destinationSlotName": "production",
            }

        return self.fake.long_running(request, action, site["id"], swap)

    def _host_status(self, site: dict[str, Any]) -> dict[str, Any]:
        key = site["id"].lower()
        status: dict[str, Any] = {
            "id": uuid.uuid5(uuid.NAMESPACE_URL, key).hex,
            "state": "Running",
            "version": "4.1036.1.23224",
            "versionDetails": "4.1036.1+0f0c8d3e5d0c8d6a5d4c3b2a1908f7e6d5c4b3a2",
            "platformVersion": "",
            "instanceId": uuid.uuid5(uuid.NAMESPACE_DNS, key).hex,
            "computerName": "",
            "processUptime": int((time.time() - self.started.get(key, time.time())) * 1000),
            "functionAppContentEditingState": "NotAllowed",
            "extensionBundle": {"id": "Microsoft.Azure.Functions.ExtensionBundle", "version": "4.20.0"},
        }
        if site["properties"]["state"] != "Running":
            status.update(state="Stopped", processUptime=0)
        elif key in self.host_errors:
            status.update(state="Error", errors=[self.host_errors[key]])
        return status


def _unknown(path: ArmPath) -> ArmError:
    kind = "/".join([path.namespace or "", *path.types] + ([path.action] if path.action else []))
    return ArmError(400, "InvalidResourceType", f"The resource type '{kind}' is not served (by the fake).")
