"""The AKS part of the fake ARM: managed clusters and their agent pools.

As the Microsoft.ContainerService reference (2024-09-01; azure-mgmt-containerservice 32.1 sends 2024-09-01)
describes them:

- ``managedClusters``: ``GET``, lists per resource group and across the subscription (paged with ``nextLink``),
  with ``provisioningState``, ``powerState.code``, ``kubernetesVersion`` and ``agentPoolProfiles`` (the pools as
  they are now); ``POST .../start`` and ``.../stop`` as long-running operations.
- ``managedClusters/N/agentPools``: list, ``GET``, and ``PUT`` of an existing pool as a long-running operation
  (200 with ``provisioningState`` ``Scaling`` when the count changes, ``Updating`` otherwise, then ``Succeeded``).
  A PUT is the whole pool: immutable fields (``vmSize``, ``osDiskSizeGB``, ``osType``, ``maxPods``...) may be
  omitted (kept) but not changed (400 ``PropertyChangeNotAllowed``); the mutable ones the body omits go back to
  their defaults (no labels, no taints, autoscaling off), as AKS applies a PUT, so a client that sends only the
  count loses the rest, which is what the tests check upstream modules against. The count must fit the
  autoscaler's bounds, and a System pool keeps at least one node.
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

__all__ = ["Aks"]

CLUSTER_TYPE = "Microsoft.ContainerService/managedClusters"
POOL_TYPE = "Microsoft.ContainerService/managedClusters/agentPools"
_IMMUTABLE = (
    "vmSize",
    "osDiskSizeGB",
    "osDiskType",
    "osType",
    "osSKU",
    "maxPods",
    "type",
    "vnetSubnetID",
    "availabilityZones",
    "kubeletDiskType",
)
# What a PUT that omits them sets them to.
_MUTABLE_DEFAULTS: dict[str, Any] = {
    "enableAutoScaling": False,
    "nodeLabels": {},
    "nodeTaints": [],
    "tags": {},
    "scaleDownMode": "Delete",
}


@dataclass
class Aks:
    """The AKS state of the fake subscription; every call is made under FakeAzure's lock."""

    fake: FakeAzure
    # Lowercased cluster id -> pool name -> the pool's properties (name inside), in creation order.
    pools: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    busy: set[str] = field(default_factory=set)  # lowercased cluster or pool ids with an operation in flight

    # --- seeding ----------------------------------------------------------------------------------------------

    def add_cluster(
        self, resource_group: str, name: str, pools: dict[str, dict[str, Any]], kubernetes_version: str
    ) -> dict[str, Any]:
        """A cluster with ``pools``: name -> properties to set (``count``, ``mode``, ``enableAutoScaling``...)."""
        cluster_id = (
            f"/subscriptions/{self.fake.subscription}/resourceGroups/{resource_group}/providers/{CLUSTER_TYPE}/{name}"
        )
        location = self.fake.location
        cluster: dict[str, Any] = {
            "id": cluster_id,
            "location": location,
            "name": name,
            "type": CLUSTER_TYPE,
            "tags": {},
            "sku": {"name": "Base", "tier": "Free"},
            "identity": {"type": "SystemAssigned", "principalId": str(uuid.uuid4()), "tenantId": self.fake.tenant},
            "properties": {
                "provisioningState": "Succeeded",
                "powerState": {"code": "Running"},
                "kubernetesVersion": kubernetes_version,
                "currentKubernetesVersion": kubernetes_version,
                "dnsPrefix": f"{name}-dns",
                "fqdn": f"{name}-dns-{uuid.uuid4().hex[:8]}.hcp.{location}.azmk8s.io",
                "azurePortalFQDN": f"{name}-dns-portal.hcp.{location}.azmk8s.io",
                "agentPoolProfiles": [],
                "servicePrincipalProfile": {"clientId": "msi"},
                "nodeResourceGroup": f"MC_{resource_group}_{name}_{location}",
                "enableRBAC": True,
                "supportPlan": "KubernetesOfficial",
                "networkProfile": {
                    "networkPlugin": "azure",
                    "networkPluginMode": "overlay",
                    "networkPolicy": "none",
                    "networkDataplane": "azure",
                    "loadBalancerSku": "standard",
                    "podCidr": "10.244.0.0/16",
                    "serviceCidr": "10.0.0.0/16",
                    "dnsServiceIP": "10.0.0.10",
                    "outboundType": "loadBalancer",
                    "podCidrs": ["10.244.0.0/16"],
                    "serviceCidrs": ["10.0.0.0/16"],
                    "ipFamilies": ["IPv4"],
                },
                "maxAgentPools": 100,
                "autoUpgradeProfile": {"upgradeChannel": "patch", "nodeOSUpgradeChannel": "NodeImage"},
                "disableLocalAccounts": False,
                "oidcIssuerProfile": {"enabled": False},
            },
        }
        self.fake.resources[cluster_id.lower()] = cluster
        self.pools[cluster_id.lower()] = {}
        for pool, settings in pools.items():
            autoscale = bool(settings.get("enableAutoScaling", False))
            properties: dict[str, Any] = {
                "count": int(settings.get("count", 1)),
                "vmSize": settings.get("vmSize", "Standard_D4ds_v5"),
                "osDiskSizeGB": 128,
                "osDiskType": "Ephemeral",
                "kubeletDiskType": "OS",
                "maxPods": 110,
                "type": "VirtualMachineScaleSets",
                "enableAutoScaling": autoscale,
                "provisioningState": "Succeeded",
                "powerState": {"code": "Running"},
                "orchestratorVersion": kubernetes_version,
                "currentOrchestratorVersion": kubernetes_version,
                "enableNodePublicIP": False,
                "nodeLabels": dict(settings.get("nodeLabels", {})),
                "nodeTaints": list(settings.get("nodeTaints", [])),
                "mode": settings.get("mode", "User"),
                "osType": "Linux",
                "osSKU": "Ubuntu",
                "nodeImageVersion": "AKSUbuntu-2204gen2containerd-202411.12.0",
                "upgradeSettings": {"maxSurge": "10%"},
                "enableFIPS": False,
                "tags": {},
                "scaleDownMode": settings.get("scaleDownMode", "Delete"),
            }
            if autoscale:
                properties.update(minCount=int(settings.get("minCount", 1)), maxCount=int(settings.get("maxCount", 5)))
            self.pools[cluster_id.lower()][pool] = properties
        return cluster

    # --- documents --------------------------------------------------------------------------------------------

    def _cluster_view(self, cluster: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(cluster)
        key = cluster["id"].lower()
        out["properties"]["agentPoolProfiles"] = [
            {"name": name, **copy.deepcopy(properties)} for name, properties in self.pools[key].items()
        ]
        if key in self.busy:
            out["properties"]["provisioningState"] = "Updating"
        return out

    def _pool_view(self, cluster: dict[str, Any], name: str) -> dict[str, Any]:
        return {
            "id": f"{cluster['id']}/agentPools/{name}",
            "name": name,
            "type": POOL_TYPE,
            "properties": copy.deepcopy(self.pools[cluster["id"].lower()][name]),
        }

    # --- dispatch ---------------------------------------------------------------------------------------------

    def handle(self, request: ArmRequest, path: ArmPath) -> Response:
        types = [t.lower() for t in path.types]
        action = (path.action or "").lower()
        if types == ["managedclusters"] and not path.names:
            if request.method != "GET" or action:
                raise _unknown(path)
            return Response(200, self.fake.list_page(request, path, CLUSTER_TYPE, self._cluster_view))
        if not types or types[0] != "managedclusters" or not path.names:
            raise _unknown(path)
        cluster = self.fake.resource(path.resource_id(1))
        if cluster is None:
            raise not_found(path)
        if types == ["managedclusters"]:
            if request.method == "GET" and not action:
                self.fake.authorize(request, f"{CLUSTER_TYPE}/read", cluster["id"])
                return Response(200, self._cluster_view(cluster))
            if request.method == "GET" and action == "agentpools":
                self.fake.authorize(request, f"{POOL_TYPE}/read", cluster["id"])
                pools = [self._pool_view(cluster, name) for name in self.pools[cluster["id"].lower()]]
                return Response(200, self.fake.page(pools, request))
            if request.method == "POST" and action in {"start", "stop"}:
                return self._power(request, cluster, action)
            raise _unknown(path)
        if types == ["managedclusters", "agentpools"] and len(path.names) == 2:
            in_cluster = self.pools[cluster["id"].lower()]
            name = next((n for n in in_cluster if n.lower() == path.names[1].lower()), None)
            if name is None:
                if request.method == "DELETE":
                    return Response(204)
                raise not_found(path)
            if request.method == "GET" and not action:
                self.fake.authorize(request, f"{POOL_TYPE}/read", cluster["id"])
                return Response(200, self._pool_view(cluster, name))
            if request.method == "PUT" and not action:
                return self._put_pool(request, cluster, name)
        raise _unknown(path)

    def _power(self, request: ArmRequest, cluster: dict[str, Any], verb: str) -> Response:
        action = f"{CLUSTER_TYPE}/{verb}/action"
        self.fake.authorize(request, action, cluster["id"])
        key = cluster["id"].lower()
        if key in self.busy:
            raise ArmError(409, "OperationNotAllowed", "Another operation is in progress on this cluster.")
        self.busy.add(key)
        code = "Running" if verb == "start" else "Stopped"

        def settle() -> None:
            self.busy.discard(key)
            cluster["properties"]["powerState"] = {"code": code}
            for properties in self.pools[key].values():
                properties["powerState"] = {"code": code}

        response = self.fake.long_running(request, action, cluster["id"], settle)
        return response

    def _put_pool(self, request: ArmRequest, cluster: dict[str, Any], name: str) -> Response:
        pool_id = f"{cluster['id']}/agentPools/{name}"
        action = f"{POOL_TYPE}/write"
        self.fake.authorize(request, action, pool_id)
        key = pool_id.lower()
        if key in self.busy or cluster["id"].lower() in self.busy:
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation is not allowed because there's an in progress operation on agent pool '{name}'.",
            )
        body = request.body if isinstance(request.body, dict) else {}
        wanted = body.get("properties")
        if not isinstance(wanted, dict):
            raise invalid_parameter("The request body must hold the agent pool's properties.", "InvalidParameter")
        current = self.pools[cluster["id"].lower()][name]
        for prop in _IMMUTABLE:
            if wanted.get(prop) is not None and wanted[prop] != current.get(prop):
                raise invalid_parameter(
                    f"Changing property '{prop}' is not allowed (from {current.get(prop)!r} to {wanted[prop]!r}).",
                    "PropertyChangeNotAllowed",
                )
        after = copy.deepcopy(current)
        for prop, default in _MUTABLE_DEFAULTS.items():
            after[prop] = copy.deepcopy(wanted[prop]) if wanted.get(prop) is not None else copy.deepcopy(default)
        for prop in ("count", "minCount", "maxCount", "mode", "orchestratorVersion", "upgradeSettings"):
            if wanted.get(prop) is not None:
                after[prop] = copy.deepcopy(wanted[prop])
        if not after["enableAutoScaling"]:
            after.pop("minCount", None)
            after.pop("maxCount", None)
        count = after.get("count")
        if not isinstance(count, int) or count < 0 or count > 1000:
            raise invalid_parameter(f"The agent pool count {count!r} must be between 0 and 1000.", "InvalidParameter")
        if after["enableAutoScaling"]:
            low, high = after.get("minCount"), after.get("maxCount")
            if not isinstance(low, int) or not isinstance(high, int) or not low <= count <= high:
                raise invalid_parameter(
                    f"With autoscaling the count {count} must lie within minCount {low} and maxCount {high}.",
                    "InvalidParameter",
                )
        if after["mode"] == "System" and count < 1:
            raise invalid_parameter("A System mode agent pool must have at least 1 node.", "InvalidParameter")
        if after["mode"] != "System" and not any(
            p["mode"] == "System" for n, p in self.pools[cluster["id"].lower()].items() if n != name
        ):
            raise invalid_parameter("The cluster must keep at least one System mode agent pool.", "InvalidParameter")
        scaling = count != current["count"]
        current["provisioningState"] = "Scaling" if scaling else "Updating"
        self.busy.add(key)

        def settle() -> None:
            self.busy.discard(key)
            after["provisioningState"] = "Succeeded"
            current.clear()
            current.update(after)
            cluster["properties"]["lastModified"] = iso8601(time.time())

        return self.fake.long_running(request, action, pool_id, settle, status=200, body=self._pool_view(cluster, name))


def _unknown(path: ArmPath) -> ArmError:
    kind = "/".join([path.namespace or "", *path.types] + ([path.action] if path.action else []))
    return ArmError(400, "InvalidResourceType", f"The resource type '{kind}' is not served (by the fake).")
