"""The GKE part of the fake (container.googleapis.com v1) and the Compute instance group managers behind node pools.

As the v1 reference describes it: clusters listed per location or across all with ``-`` (no paging), each with
its ``nodePools`` (config, autoscaling, status, ``instanceGroupUrls``); ``nodePools.setSize`` and
``setAutoscaling`` answer an Operation (``RUNNING``, ``DONE`` when polled or after a second). A pool's size is not a
field of the pool: it is the ``targetSize`` of its instance group managers, one per zone (Compute's
``instanceGroupManagers.get``), and ``setSize``'s ``nodeCount`` is per zone.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .fake_wire import GoogleError, Operation, invalid, json_body, located, not_found, rfc3339, unknown_path

if TYPE_CHECKING:
    from .fake_api import FakeGoogle

__all__ = ["Gke"]


@dataclass
class Gke:
    """The GKE state of the fake project; every call is made under FakeGoogle's lock."""

    google: FakeGoogle
    clusters: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # Compute instance group managers, by (zone, name): what a node pool's size is.
    groups: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    operations: dict[str, Operation] = field(default_factory=dict)

    # --- seeding ----------------------------------------------------------------------------------------------

    def add_cluster(self, location: str, name: str, pools: dict[str, tuple[int, bool]], labels: dict[str, str]) -> None:
        """A zonal cluster (its location is a zone) with ``pools``: name -> (node count, spot)."""
        project = self.google.project
        cluster: dict[str, Any] = {
            "name": name,
            "location": location,
            "zone": location,
            "locations": [location],
            "status": "RUNNING",
            "conditions": [],
            "currentMasterVersion": "1.30.5-gke.1014001",
            "currentNodeVersion": "1.30.5-gke.1014001",
            "endpoint": "10.0.0.2",
            "resourceLabels": dict(labels),
            "createTime": rfc3339(time.time() - 86400 * 30),
            "selfLink": f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/clusters/{name}",
            "nodePools": [],
        }
        self.clusters[(location, name)] = cluster
        for pool, (count, spot) in pools.items():
            group = f"gke-{name}-{pool}-{secrets.token_hex(4)}-grp"
            link = f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{location}/instanceGroupManagers/{group}"
            self.groups[(location, group)] = {
                "kind": "compute#instanceGroupManager",
                "name": group,
                "zone": f"https://www.googleapis.com/compute/v1/projects/{project}/zones/{location}",
                "targetSize": count,
                "currentActions": {"none": count, "creating": 0, "deleting": 0, "recreating": 0},
                "status": {"isStable": True},
                "selfLink": link,
            }
            cluster["nodePools"].append(
                {
                    "name": pool,
                    "config": {"machineType": "e2-standard-4", "diskSizeGb": 100, "spot": spot},
                    "initialNodeCount": count,
                    "autoscaling": {"enabled": spot, "minNodeCount": 0, "maxNodeCount": 5} if spot else {},
                    "management": {"autoUpgrade": True, "autoRepair": True},
                    "status": "RUNNING",
                    "version": cluster["currentNodeVersion"],
                    "locations": [location],
                    "instanceGroupUrls": [link],
                    "selfLink": f"{cluster['selfLink']}/nodePools/{pool}",
                }
            )

    # --- container.googleapis.com -----------------------------------------------------------------------------

    def handle(self, method: str, path: str, principal: str, body: bytes) -> dict[str, Any]:
        # v1/projects/P/locations/L/(clusters[/C[/nodePools[/NP[:verb]]]] | operations/OP)
        location, rest = located(method, path, "v1", self.google.project)
        parent = f"projects/{self.google.project}/locations/{location}"
        if rest[0] == "operations" and len(rest) == 2:
            self.google.allow(principal, "container.operations.get", parent)
            operation = self.operations.get(rest[1])
            if operation is None:
                raise not_found(f"{parent}/operations/{rest[1]}")
            operation.finish()
            return operation.document
        if rest[0] != "clusters":
            raise unknown_path(method, path)
        if len(rest) == 1 and method == "GET":
            self.google.allow(principal, "container.clusters.list", parent)
            found = [c for (loc, _), c in sorted(self.clusters.items()) if location in {"-", loc}]
            return {"clusters": found} if found else {}
        cluster = self.clusters.get((location, rest[1]))
        if cluster is None:
            raise not_found(f"{parent}/clusters/{rest[1]}")
        if len(rest) == 2 and method == "GET":
            self.google.allow(principal, "container.clusters.get", f"{parent}/clusters/{rest[1]}")
            return cluster
        if len(rest) == 3 and rest[2] == "nodePools" and method == "GET":
            self.google.allow(principal, "container.clusters.get", f"{parent}/clusters/{rest[1]}")
            return {"nodePools": cluster["nodePools"]}
        if len(rest) == 4 and rest[2] == "nodePools":
            name, _, verb = rest[3].partition(":")
            pool: dict[str, Any] | None = next((p for p in cluster["nodePools"] if p["name"] == name), None)
            if pool is None:
                raise not_found(f"{parent}/clusters/{rest[1]}/nodePools/{name}")
            if not verb and method == "GET":
                self.google.allow(principal, "container.clusters.get", pool["selfLink"])
                return pool
            if verb in {"setSize", "setAutoscaling"} and method == "POST":
                self.google.allow(principal, "container.clusters.update", pool["selfLink"])
                return self._change_pool(cluster, pool, verb, json_body(body), principal)
        raise GoogleError(405, "METHOD_NOT_ALLOWED", "httpMethodNotAllowed", f"{method} is not allowed here")

    def _change_pool(
        self, cluster: dict[str, Any], pool: dict[str, Any], verb: str, request: dict[str, Any], principal: str
    ) -> dict[str, Any]:
        if cluster["status"] != "RUNNING" or pool["status"] != "RUNNING":
            raise GoogleError(
                400,
                "FAILED_PRECONDITION",
                "failedPrecondition",
                f"Cluster is running incompatible operation; the node pool is {pool['status']}",
            )
        if verb == "setSize":
            count = request.get("nodeCount")
            if not isinstance(count, int) or not 0 <= count <= 1000:
                raise invalid(f"Invalid value for field 'nodeCount': {count!r}")
            groups = [self._group(link) for link in pool["instanceGroupUrls"]]

            def apply() -> None:
                for group in groups:
                    group.update(targetSize=count, currentActions=dict(group["currentActions"], none=count))

            kind = "SET_NODE_POOL_SIZE"
        else:
            autoscaling = request.get("autoscaling")
            if not isinstance(autoscaling, dict):
                raise invalid("Invalid value for field 'autoscaling'")

            def apply() -> None:
                pool["autoscaling"] = dict(autoscaling)

            kind = "SET_NODE_POOL_MANAGEMENT"
        pool["status"] = "RECONCILING"

        def finish() -> None:
            apply()
            pool["status"] = "RUNNING"

        self.google.add_log_entry(
            "activity",
            f"google.container.v1.ClusterManager.{verb[0].upper()}{verb[1:]}",
            pool["selfLink"].split("/v1/", 1)[1],
            principal,
            time.time(),
            service="container.googleapis.com",
            resource_type="gke_nodepool",
        )
        return self._operation(cluster, pool, kind, finish)

    def _group(self, link: str) -> dict[str, Any]:
        parts = link.split("/")
        return self.groups[(parts[-3], parts[-1])]

    def _operation(self, cluster: dict[str, Any], pool: dict[str, Any], kind: str, apply: Any) -> dict[str, Any]:
        name = f"operation-{int(time.time() * 1000)}-{secrets.token_hex(4)}"
        project, location = self.google.project, cluster["location"]
        document = {
            "name": name,
            "zone": location,
            "location": location,
            "operationType": kind,
            "status": "RUNNING",
            "selfLink": f"https://container.googleapis.com/v1/projects/{project}/locations/{location}/operations/{name}",
            "targetLink": pool["selfLink"],
            "startTime": rfc3339(time.time()),
        }
        self.operations[name] = Operation(document, apply, lambda: {"status": "DONE", "endTime": rfc3339(time.time())})
        return dict(document)

    # --- compute.googleapis.com: instance group managers ------------------------------------------------------

    def instance_group_manager(self, zone: str, name: str, principal: str) -> dict[str, Any]:
        self.google.allow(
            principal, "compute.instanceGroupManagers.get", f"projects/{self.google.project}/zones/{zone}"
        )
        group = self.groups.get((zone, name))
        if group is None:
            raise not_found(f"projects/{self.google.project}/zones/{zone}/instanceGroupManagers/{name}")
        return group
