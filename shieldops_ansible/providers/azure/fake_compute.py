"""The Compute and Network part of the fake ARM: virtual machines, managed disks, snapshots, NICs and public IPs.

As the Microsoft.Compute references (2024-07-01 for VMs, 2024-03-02 for disks; the SDK of azure-mgmt-compute 33
sends those) describe them:

- A VM's model (``GET``, ``$expand=instanceView``) and its ``instanceView``: ``ProvisioningState/succeeded``,
  ``PowerState/running|starting|stopping|stopped|deallocating|deallocated``, the VM agent (``Ready`` only while the
  VM runs), boot diagnostics, disk statuses, ``osName``, ``computerName``. Lists per resource group and across the
  subscription, paged with ``nextLink``.
- ``start``, ``powerOff``, ``deallocate`` and ``restart`` are long-running operations (202 with
  ``Azure-AsyncOperation`` and ``Location``); the VM shows the transitional power state and provisioningState
  ``Updating`` until the operation settles. Restarting a VM that is not running is refused (409), as on Azure.
- ``PUT``/``PATCH`` of an existing VM changes its size, tags, user data, OS disk (a swap: only while deallocated,
  409 ``OperationNotAllowed`` otherwise) and data disks (detach/attach by ``managedDisk.id``, also only while
  deallocated here). Attaching a disk another VM holds is a 409.
- Disks and snapshots: ``PUT`` (``Empty``, or ``Copy`` from ``sourceResourceId``: a snapshot of a disk, a disk
  from a snapshot or disk, copying what it holds, FakeAzure.content), ``PATCH``, ``GET``, lists, ``DELETE`` (409
  for an attached disk). ``diskState`` is ``Attached`` (VM allocated), ``Reserved`` (VM deallocated) or
  ``Unattached``, with ``managedBy`` naming the VM.
- NICs and public IPs: ``GET`` and lists (azure_rm_virtualmachine reads them to describe a VM).
"""

from __future__ import annotations

import copy
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .fake_wire import ArmError, ArmPath, ArmRequest, Response, invalid_parameter, iso8601, not_found

if TYPE_CHECKING:
    from .fake_arm import FakeAzure

__all__ = ["Compute"]

VM_TYPE = "Microsoft.Compute/virtualMachines"
DISK_TYPE = "Microsoft.Compute/disks"
SNAPSHOT_TYPE = "Microsoft.Compute/snapshots"
NIC_TYPE = "Microsoft.Network/networkInterfaces"
PIP_TYPE = "Microsoft.Network/publicIPAddresses"
_POWER_STATES = ("running", "starting", "stopping", "stopped", "deallocating", "deallocated")
# The power state an operation shows while it runs, and the one it leaves.
_TRANSITIONS = {
    "start": ("starting", "running"),
    "powerOff": ("stopping", "stopped"),
    "deallocate": ("deallocating", "deallocated"),
    "restart": ("running", "running"),
}
_HEALTH = {
    "running": ("Available", "There aren't any known Azure platform problems affecting this virtual machine.", ""),
    "stopped": (
        "Unavailable",
        "This virtual machine is stopped as requested by an authorized user or process.",
        "Customer Initiated",
    ),
    "deallocated": (
        "Unavailable",
        "This virtual machine is stopped and deallocated as requested by an authorized user or process.",
        "Customer Initiated",
    ),
}


@dataclass
class Compute:
    """The Compute and Network state of the fake subscription; every call is made under FakeAzure's lock."""

    fake: FakeAzure
    power: dict[str, str] = field(default_factory=dict)  # lowercased VM id -> power state
    cpu: dict[str, float] = field(default_factory=dict)  # lowercased VM id -> average Percentage CPU while running
    busy: set[str] = field(default_factory=set)  # lowercased ids with an operation in flight
    booted: dict[str, float] = field(default_factory=dict)  # lowercased VM id -> when it last started

    # --- seeding ----------------------------------------------------------------------------------------------

    def _id(self, resource_group: str, type_: str, name: str) -> str:
        return f"/subscriptions/{self.fake.subscription}/resourceGroups/{resource_group}/providers/{type_}/{name}"

    def add_vm(
        self, resource_group: str, name: str, power_state: str, tags: dict[str, str], size: str, data_disks: int
    ) -> dict[str, Any]:
        state = power_state.removeprefix("PowerState/").lower()
        if state not in _POWER_STATES:
            raise ValueError(f"unknown power state {power_state}")
        location = self.fake.location
        vm_id = self._id(resource_group, VM_TYPE, name)
        pip = self._store(
            {
                "name": f"{name}-ip",
                "id": self._id(resource_group, PIP_TYPE, f"{name}-ip"),
                "etag": f'W/"{uuid.uuid4()}"',
                "location": location,
                "type": PIP_TYPE,
                "sku": {"name": "Standard", "tier": "Regional"},
                "properties": {
                    "provisioningState": "Succeeded",
                    "resourceGuid": str(uuid.uuid4()),
                    "ipAddress": f"20.54.{len(self.power) + 10}.{secrets.randbelow(200) + 20}",
                    "publicIPAddressVersion": "IPv4",
                    "publicIPAllocationMethod": "Static",
                    "idleTimeoutInMinutes": 4,
                    "ipTags": [],
                    "ipConfiguration": {
                        "id": self._id(resource_group, NIC_TYPE, f"{name}-nic") + "/ipConfigurations/ipconfig1"
                    },
                },
            }
        )
        nic_id = self._id(resource_group, NIC_TYPE, f"{name}-nic")
        self._store(
            {
                "name": f"{name}-nic",
                "id": nic_id,
                "etag": f'W/"{uuid.uuid4()}"',
                "location": location,
                "type": NIC_TYPE,
                "kind": "Regular",
                "properties": {
                    "provisioningState": "Succeeded",
                    "resourceGuid": str(uuid.uuid4()),
                    "ipConfigurations": [
                        {
                            "name": "ipconfig1",
                            "id": f"{nic_id}/ipConfigurations/ipconfig1",
                            "etag": f'W/"{uuid.uuid4()}"',
                            "type": f"{NIC_TYPE}/ipConfigurations",
                            "properties": {
                                "provisioningState": "Succeeded",
                                "privateIPAddress": f"10.0.0.{len(self.power) + 4}",
                                "privateIPAllocationMethod": "Dynamic",
                                "publicIPAddress": {"id": pip["id"]},
                                "subnet": {
                                    "id": f"/subscriptions/{self.fake.subscription}/resourceGroups/{resource_group}"
                                    f"/providers/Microsoft.Network/virtualNetworks/{resource_group}-vnet/subnets/default"
                                },
                                "primary": True,
                                "privateIPAddressVersion": "IPv4",
                            },
                        }
                    ],
                    "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
                    "macAddress": "00-0D-3A-" + "-".join(f"{secrets.randbelow(256):02X}" for _ in range(3)),
                    "enableAcceleratedNetworking": False,
                    "enableIPForwarding": False,
                    "primary": True,
                    "virtualMachine": {"id": vm_id},
                    "nicType": "Standard",
                },
            }
        )
        os_disk = self.add_disk(
            resource_group,
            f"{name}-osdisk",
            30,
            f"{name}: system as seeded",
            os_type="Linux",
            managed_by=vm_id,
            create_option="FromImage",
        )
        data = [
            self.add_disk(resource_group, f"{name}-data-{lun}", 64, f"{name}: data {lun} as seeded", managed_by=vm_id)
            for lun in range(data_disks)
        ]
        vm = self._store(
            {
                "name": name,
                "id": vm_id,
                "type": VM_TYPE,
                "location": location,
                "tags": dict(tags),
                "properties": {
                    "vmId": str(uuid.uuid4()),
                    "hardwareProfile": {"vmSize": size},
                    "storageProfile": {
                        "imageReference": {
                            "publisher": "Canonical",
                            "offer": "0001-com-ubuntu-server-jammy",
                            "sku": "22_04-lts-gen2",
                            "version": "latest",
                            "exactVersion": "22.04.202411220",
                        },
                        "osDisk": {
                            "osType": "Linux",
                            "name": os_disk["name"],
                            "createOption": "FromImage",
                            "caching": "ReadWrite",
                            "managedDisk": {"storageAccountType": "Premium_LRS", "id": os_disk["id"]},
                            "deleteOption": "Delete",
                            "diskSizeGB": 30,
                        },
                        "dataDisks": [self._data_disk(lun, disk) for lun, disk in enumerate(data)],
                        "diskControllerType": "SCSI",
                    },
                    "osProfile": {
                        "computerName": name,
                        "adminUsername": "azureuser",
                        "linuxConfiguration": {
                            "disablePasswordAuthentication": True,
                            "provisionVMAgent": True,
                            "patchSettings": {"patchMode": "ImageDefault", "assessmentMode": "ImageDefault"},
                        },
                        "secrets": [],
                        "allowExtensionOperations": True,
                        "requireGuestProvisionSignal": True,
                    },
                    "networkProfile": {"networkInterfaces": [{"id": nic_id, "properties": {"primary": True}}]},
                    "diagnosticsProfile": {"bootDiagnostics": {"enabled": True}},
                    "provisioningState": "Succeeded",
                    "timeCreated": iso8601(time.time() - 86400),
                },
            }
        )
        self.power[vm_id.lower()] = state
        self.booted[vm_id.lower()] = time.time() - 86400
        if state in _HEALTH and state != "running":
            # Stopped an hour ago, by whoever stopped it (the seed's Activity Log says who).
            self.fake.insights.set_health(vm_id, *_HEALTH[state], at=time.time() - 3560)
        return vm

    def add_disk(
        self,
        resource_group: str,
        name: str,
        size_gb: int,
        content: str = "",
        *,
        os_type: str | None = None,
        managed_by: str | None = None,
        create_option: str = "Empty",
        source: dict[str, Any] | None = None,
        sku: str = "Premium_LRS",
        tags: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        creation: dict[str, Any] = {"createOption": create_option}
        if source is not None:
            creation.update(sourceResourceId=source["id"], sourceUniqueId=source["properties"]["uniqueId"])
        properties: dict[str, Any] = {
            "creationData": creation,
            "diskSizeGB": size_gb,
            "diskSizeBytes": size_gb * 1024**3,
            "uniqueId": str(uuid.uuid4()),
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "networkAccessPolicy": "AllowAll",
            "publicNetworkAccess": "Enabled",
            "timeCreated": iso8601(time.time()),
            "provisioningState": "Succeeded",
            "diskState": "Unattached",
            "diskIOPSReadWrite": 120,
            "diskMBpsReadWrite": 25,
            "tier": "P4" if size_gb <= 32 else "P6",
        }
        if os_type is not None:
            properties.update(osType=os_type, hyperVGeneration="V2")
        disk = self._store(
            {
                "name": name,
                "id": self._id(resource_group, DISK_TYPE, name),
                "type": DISK_TYPE,
                "location": self.fake.location,
                "tags": dict(tags or {}),
                "sku": {"name": sku, "tier": sku.split("_")[0]},
                "properties": properties,
            }
        )
        if managed_by is not None:
            disk["managedBy"] = managed_by
        self.fake.content[disk["id"].lower()] = content
        return disk

    def _store(self, doc: dict[str, Any]) -> dict[str, Any]:
        self.fake.resources[doc["id"].lower()] = doc
        return doc

    @staticmethod
    def _data_disk(lun: int, disk: dict[str, Any]) -> dict[str, Any]:
        return {
            "lun": lun,
            "name": disk["name"],
            "createOption": "Attach",
            "caching": "ReadOnly",
            "writeAcceleratorEnabled": False,
            "managedDisk": {"storageAccountType": disk["sku"]["name"], "id": disk["id"]},
            "deleteOption": "Detach",
            "diskSizeGB": disk["properties"]["diskSizeGB"],
            "toBeDetached": False,
        }

    # --- state ------------------------------------------------------------------------------------------------

    def vm(self, resource_id: str) -> dict[str, Any] | None:
        found = self.fake.resource(resource_id)
        return found if found is not None and found["type"] == VM_TYPE else None

    def set_power(self, vm: dict[str, Any], state: str, outside: bool = False) -> None:
        """Set a VM's power state, and its health as Resource Health would report it."""
        if state not in _POWER_STATES:
            raise invalid_parameter(f"Unknown power state '{state}'.")
        key = vm["id"].lower()
        previous = self.power.get(key)
        self.power[key] = state
        if state == "running" and previous != "running":
            self.booted[key] = time.time()
        if state in _HEALTH and previous != state:
            availability, summary, reason = _HEALTH[state]
            if outside and state != "running":
                summary, reason = "This virtual machine stopped unexpectedly; Azure is investigating.", "Unplanned"
            self.fake.insights.set_health(vm["id"], availability, summary, reason)

    def _disk_state(self, disk: dict[str, Any]) -> str:
        holder = disk.get("managedBy")
        if not holder:
            return "Unattached"
        return "Reserved" if self.power.get(str(holder).lower()) == "deallocated" else "Attached"

    def _view(self, doc: dict[str, Any]) -> dict[str, Any]:
        """What a GET answers: the stored document, with what is derived from the live state."""
        out = copy.deepcopy(doc)
        if doc["id"].lower() in self.busy:
            out["properties"]["provisioningState"] = "Updating"
        if doc["type"] == DISK_TYPE:
            out["properties"]["diskState"] = self._disk_state(doc)
        return out

    def instance_view(self, vm: dict[str, Any]) -> dict[str, Any]:
        key = vm["id"].lower()
        state = self.power[key]
        now = iso8601(time.time())
        running = state == "running"
        storage = vm["properties"]["storageProfile"]
        disks = [storage["osDisk"], *storage["dataDisks"]]
        provisioning = "updating" if key in self.busy else "succeeded"
        view: dict[str, Any] = {
            "computerName": vm["properties"]["osProfile"]["computerName"],
            "osName": "ubuntu",
            "osVersion": "22.04",
            "hyperVGeneration": "V2",
            "vmAgent": {
                "vmAgentVersion": "2.12.0.2" if running else "Unknown",
                "statuses": [
                    {
                        "code": "ProvisioningState/succeeded" if running else "ProvisioningState/Unavailable",
                        "level": "Info" if running else "Warning",
                        "displayStatus": "Ready" if running else "Not Ready",
                        "message": "Guest Agent is running"
                        if running
                        else "VM status blob is found but not yet populated.",
                        "time": now,
                    }
                ],
                "extensionHandlers": [],
            },
            "disks": [
                {
                    "name": disk["name"],
                    "statuses": [
                        {
                            "code": "ProvisioningState/succeeded",
                            "level": "Info",
                            "displayStatus": "Provisioning succeeded",
                            "time": iso8601(self.booted.get(key, time.time())),
                        }
                    ],
                }
                for disk in disks
            ],
            "bootDiagnostics": {},
            "statuses": [
                {
                    "code": f"ProvisioningState/{provisioning}",
                    "level": "Info",
                    "displayStatus": "Provisioning succeeded" if provisioning == "succeeded" else "Updating",
                    "time": now,
                },
                {"code": f"PowerState/{state}", "level": "Info", "displayStatus": f"VM {state}"},
            ],
        }
        if running:
            view["bootDiagnostics"] = {
                "consoleScreenshotBlobUri": f"https://md-boot.blob.core.windows.net/{vm['name']}/screenshot.bmp",
                "serialConsoleLogBlobUri": f"https://md-boot.blob.core.windows.net/{vm['name']}/serial.log",
            }
        return view

    # --- dispatch ---------------------------------------------------------------------------------------------

    def handle(self, request: ArmRequest, path: ArmPath) -> Response:
        types = [t.lower() for t in path.types]
        if path.namespace is not None and path.namespace.lower() == "microsoft.network":
            if types and types[0] in {"networkinterfaces", "publicipaddresses"} and len(types) == 1:
                type_ = NIC_TYPE if types[0] == "networkinterfaces" else PIP_TYPE
                return self._read_only(request, path, type_)
            raise _unknown(path)
        if len(types) != 1 or types[0] not in {"virtualmachines", "disks", "snapshots"}:
            raise _unknown(path)
        type_ = {"virtualmachines": VM_TYPE, "disks": DISK_TYPE, "snapshots": SNAPSHOT_TYPE}[types[0]]
        if not path.names:
            if request.method != "GET" or path.action is not None:
                raise _unknown(path)
            return Response(200, self._list(request, path, type_))
        doc = self.fake.resource(path.resource_id())
        if type_ == VM_TYPE:
            return self._vm(request, path, doc)
        return self._disk_like(request, path, type_, doc)

    def _list(self, request: ArmRequest, path: ArmPath, type_: str) -> dict[str, Any]:
        return self.fake.list_page(request, path, type_, self._view)

    def _read_only(self, request: ArmRequest, path: ArmPath, type_: str) -> Response:
        if request.method != "GET" or path.action is not None:
            self.fake.authorize(request, f"{type_}/write", path.resource_id())
            raise ArmError(405, "MethodNotAllowed", f"The fake serves {type_} read-only.")
        if not path.names:
            return Response(200, self._list(request, path, type_))
        doc = self.fake.resource(path.resource_id())
        if doc is None:
            raise not_found(path)
        self.fake.authorize(request, f"{type_}/read", doc["id"])
        return Response(200, self._view(doc))

    # --- virtual machines -------------------------------------------------------------------------------------

    def _vm(self, request: ArmRequest, path: ArmPath, vm: dict[str, Any] | None) -> Response:
        method, action = request.method, path.action
        if vm is None:
            if method == "DELETE":
                return Response(204)
            raise not_found(path)
        if method == "GET" and action is None:
            self.fake.authorize(request, f"{VM_TYPE}/read", vm["id"])
            out = self._view(vm)
            if (request.param("$expand") or "").lower() == "instanceview":
                out["properties"]["instanceView"] = self.instance_view(vm)
            return Response(200, out)
        if method == "GET" and action is not None and action.lower() == "instanceview":
            self.fake.authorize(request, f"{VM_TYPE}/read", vm["id"])
            return Response(200, self.instance_view(vm))
        if method == "POST" and action is not None:
            verb = {v.lower(): v for v in _TRANSITIONS}.get(action.lower())
            if verb is None:
                raise _unknown(path)
            return self._power_op(request, vm, verb)
        if method in {"PUT", "PATCH"} and action is None:
            return self._update_vm(request, vm)
        raise _unknown(path)

    def _power_op(self, request: ArmRequest, vm: dict[str, Any], verb: str) -> Response:
        action = f"{VM_TYPE}/{verb}/action"
        self.fake.authorize(request, action, vm["id"])
        key = vm["id"].lower()
        self._not_busy(vm)
        state = self.power[key]
        if verb == "restart" and state != "running":
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Operation 'restart' is not allowed on VM '{vm['name']}' since the VM is {state}. The operation can "
                "be performed only when the VM is running.",
            )
        during, after = _TRANSITIONS[verb]
        noop = (
            (verb == "start" and state in {"running", "starting"})
            or (verb == "powerOff" and state in {"stopped", "deallocated"})
            or (verb == "deallocate" and state == "deallocated")
        )
        if not noop:
            self.power[key] = during
        self.busy.add(key)

        def settle() -> None:
            self.busy.discard(key)
            if noop:
                return
            self.set_power(vm, after)
            if verb == "restart":
                self.booted[key] = time.time()

        return self._operation(request, action, vm["id"], settle)

    def _operation(
        self, request: ArmRequest, action: str, resource_id: str, apply: Callable[[], None], **kwargs: Any
    ) -> Response:
        return self.fake.long_running(request, action, resource_id, apply, **kwargs)

    def _not_busy(self, doc: dict[str, Any]) -> None:
        if doc["id"].lower() in self.busy:
            raise ArmError(
                409,
                "Conflict",
                f"Operation on '{doc['name']}' is not allowed because another operation on this or a dependent "
                "resource is in progress.",
            )

    def _update_vm(self, request: ArmRequest, vm: dict[str, Any]) -> Response:
        """PUT or PATCH of an existing VM: size, tags, user data, the OS disk (a swap) and the data disks."""
        self.fake.authorize(request, f"{VM_TYPE}/write", vm["id"])
        self._not_busy(vm)
        body = request.body if isinstance(request.body, dict) else {}
        properties = body.get("properties") or {}
        storage = properties.get("storageProfile") or {}
        key = vm["id"].lower()
        deallocated = self.power[key] == "deallocated"
        changes: list[Callable[[], None]] = []

        wanted_os = ((storage.get("osDisk") or {}).get("managedDisk") or {}).get("id")
        current_os = vm["properties"]["storageProfile"]["osDisk"]["managedDisk"]["id"]
        if wanted_os and str(wanted_os).lower() != current_os.lower():
            if not deallocated:
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"The OS disk of VM '{vm['name']}' can be swapped only while the VM is stopped (deallocated).",
                )
            new_os = self._attachable(str(wanted_os), vm)
            if new_os["properties"].get("osType") is None:
                raise invalid_parameter(f"Disk '{new_os['name']}' has no osType and cannot be an OS disk.")
            changes.append(lambda: self._swap_os(vm, new_os))

        if "dataDisks" in storage:
            wanted = list(storage.get("dataDisks") or [])
            current = {d["managedDisk"]["id"].lower(): d for d in vm["properties"]["storageProfile"]["dataDisks"]}
            wanted_ids = [self._data_disk_id(d, vm) for d in wanted]
            luns = [d.get("lun") for d in wanted]
            if len(set(luns)) != len(luns) or any(not isinstance(lun, int) for lun in luns):
                raise invalid_parameter("The data disks' LUNs must be distinct integers.", "InvalidParameter")
            if set(wanted_ids) != set(current) or any(
                current[w]["lun"] != d.get("lun") for w, d in zip(wanted_ids, wanted, strict=True) if w in current
            ):
                if not deallocated:
                    raise ArmError(
                        409,
                        "OperationNotAllowed",
                        f"The data disks of VM '{vm['name']}' can be changed only while it is stopped (deallocated).",
                    )
                disks = [self._attachable(w, vm) for w in wanted_ids]
                changes.append(lambda: self._set_data_disks(vm, list(zip(wanted, disks, strict=True))))

        size = (properties.get("hardwareProfile") or {}).get("vmSize")
        if size and size != vm["properties"]["hardwareProfile"]["vmSize"]:
            changes.append(lambda: vm["properties"]["hardwareProfile"].update(vmSize=size))
        if "tags" in body or request.method == "PUT":
            tags = dict(body.get("tags") or {})
            changes.append(lambda: vm.update(tags=tags))
        if "userData" in properties:
            user_data = properties["userData"]
            changes.append(lambda: vm["properties"].update(userData=user_data))

        self.busy.add(key)

        def settle() -> None:
            self.busy.discard(key)
            for change in changes:
                change()

        return self._operation(request, f"{VM_TYPE}/write", vm["id"], settle, status=200, body=self._view(vm))

    @staticmethod
    def _data_disk_id(requested: dict[str, Any], vm: dict[str, Any]) -> str:
        """The lowercased id of a requested data disk: its ``managedDisk.id``, or, as on Azure, the disk already at
        that LUN with that name (a PUT that repeats the VM's model names its disks so)."""
        given = (requested.get("managedDisk") or {}).get("id")
        if given:
            return str(given).lower()
        for attached in vm["properties"]["storageProfile"]["dataDisks"]:
            if attached["lun"] == requested.get("lun") and requested.get("name") in {None, attached["name"]}:
                return str(attached["managedDisk"]["id"]).lower()
        raise invalid_parameter(
            f"Required parameter 'managedDisk.id' is missing (null) for the data disk at LUN {requested.get('lun')}."
        )

    def _attachable(self, disk_id: str, vm: dict[str, Any]) -> dict[str, Any]:
        disk = self.fake.resource(disk_id)
        if disk is None or disk["type"] != DISK_TYPE:
            raise ArmError(404, "NotFound", f"Disk '{disk_id}' was not found.")
        holder = disk.get("managedBy")
        if holder and str(holder).lower() != vm["id"].lower():
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Disk '{disk['name']}' is already attached to VM '{holder}'.",
            )
        return disk

    def _swap_os(self, vm: dict[str, Any], disk: dict[str, Any]) -> None:
        os_disk = vm["properties"]["storageProfile"]["osDisk"]
        old = self.fake.resource(os_disk["managedDisk"]["id"])
        if old is not None:
            old.pop("managedBy", None)
        disk["managedBy"] = vm["id"]
        os_disk.update(name=disk["name"], diskSizeGB=disk["properties"]["diskSizeGB"])
        os_disk["managedDisk"] = {"storageAccountType": disk["sku"]["name"], "id": disk["id"]}

    def _set_data_disks(self, vm: dict[str, Any], wanted: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
        storage = vm["properties"]["storageProfile"]
        keep = {disk["id"].lower() for _, disk in wanted}
        for attached in storage["dataDisks"]:
            if attached["managedDisk"]["id"].lower() not in keep:
                old = self.fake.resource(attached["managedDisk"]["id"])
                if old is not None:
                    old.pop("managedBy", None)
        entries = []
        for requested, disk in wanted:
            disk["managedBy"] = vm["id"]
            entry = self._data_disk(int(requested["lun"]), disk)
            if requested.get("caching"):
                entry["caching"] = requested["caching"]
            entries.append(entry)
        storage["dataDisks"] = sorted(entries, key=lambda d: int(d["lun"]))

    # --- disks and snapshots ----------------------------------------------------------------------------------

    def _disk_like(self, request: ArmRequest, path: ArmPath, type_: str, doc: dict[str, Any] | None) -> Response:
        method = request.method
        if path.action is not None:
            raise _unknown(path)
        if method == "GET":
            if doc is None:
                raise not_found(path)
            self.fake.authorize(request, f"{type_}/read", doc["id"])
            return Response(200, self._view(doc))
        if method == "DELETE":
            self.fake.authorize(request, f"{type_}/delete", path.resource_id())
            if doc is None:
                return Response(204)
            return self._delete(request, type_, doc)
        if method == "PUT" and doc is None:
            return self._create(request, path, type_)
        if method in {"PUT", "PATCH"} and doc is not None:
            return self._update_disk(request, type_, doc)
        if method == "PATCH":
            raise not_found(path)
        raise _unknown(path)

    def _create(self, request: ArmRequest, path: ArmPath, type_: str) -> Response:
        self.fake.authorize(request, f"{type_}/write", path.resource_id())
        body = request.body if isinstance(request.body, dict) else {}
        properties = body.get("properties") or {}
        creation = properties.get("creationData") or {}
        option = str(creation.get("createOption") or "")
        name = path.names[0]
        source: dict[str, Any] | None = None
        if option.lower() == "copy":
            source_id = creation.get("sourceResourceId")
            if not source_id:
                raise invalid_parameter(
                    "Required parameter 'sourceResourceId' is missing (null). With createOption Copy, the source is "
                    "named by creationData.sourceResourceId (sourceUri is for a blob to Import)."
                )
            source = self.fake.resource(str(source_id))
            if source is None or source["type"] not in {DISK_TYPE, SNAPSHOT_TYPE}:
                raise ArmError(404, "NotFound", f"Resource '{source_id}' was not found.")
        elif option.lower() != "empty" or type_ == SNAPSHOT_TYPE:
            raise invalid_parameter(
                f"createOption '{option}' is not supported by the fake here (disks: Empty or Copy; snapshots: Copy)."
            )
        size = properties.get("diskSizeGB") or (source["properties"]["diskSizeGB"] if source else None)
        if not isinstance(size, int) or size <= 0:
            raise invalid_parameter("Required parameter 'diskSizeGB' is missing (null).")
        if source is not None and size < int(source["properties"]["diskSizeGB"]):
            raise invalid_parameter(
                f"The specified disk size {size} GB is smaller than the size of the corresponding disk or snapshot "
                f"({source['properties']['diskSizeGB']} GB).",
                "BadRequest",
            )
        os_type = properties.get("osType") or (source["properties"].get("osType") if source else None)
        sku = str((body.get("sku") or {}).get("name") or ("Standard_LRS" if type_ == SNAPSHOT_TYPE else "Premium_LRS"))
        content = self.fake.content.get(source["id"].lower(), "") if source else ""
        doc = self.add_disk(
            path.resource_group or "",
            name,
            size,
            content,
            os_type=os_type,
            create_option="Copy" if source else "Empty",
            source=source,
            sku=sku,
            tags=body.get("tags") or {},
        )
        if type_ == SNAPSHOT_TYPE:
            del self.fake.resources[doc["id"].lower()]
            del self.fake.content[doc["id"].lower()]
            doc["id"] = self._id(path.resource_group or "", SNAPSHOT_TYPE, name)
            doc["type"] = SNAPSHOT_TYPE
            doc["properties"]["incremental"] = bool(properties.get("incremental", False))
            for derived in ("diskIOPSReadWrite", "diskMBpsReadWrite", "tier"):
                doc["properties"].pop(derived, None)
            self._store(doc)
            self.fake.content[doc["id"].lower()] = content
        key = doc["id"].lower()
        self.busy.add(key)
        return self._operation(
            request, f"{type_}/write", doc["id"], lambda: self.busy.discard(key), status=202, body=self._view(doc)
        )

    def _update_disk(self, request: ArmRequest, type_: str, doc: dict[str, Any]) -> Response:
        self.fake.authorize(request, f"{type_}/write", doc["id"])
        self._not_busy(doc)
        body = request.body if isinstance(request.body, dict) else {}
        properties = body.get("properties") or {}
        size = properties.get("diskSizeGB")
        current = int(doc["properties"]["diskSizeGB"])
        if isinstance(size, int) and size < current:
            raise invalid_parameter(f"Disk size reduction is not supported: {size} GB < {current} GB.", "BadRequest")
        if isinstance(size, int) and size != current and doc.get("managedBy"):
            holder = self.power.get(str(doc["managedBy"]).lower())
            if holder != "deallocated":
                raise ArmError(
                    409,
                    "OperationNotAllowed",
                    f"Disk '{doc['name']}' can be resized only while its VM is deallocated or it is unattached.",
                )
        key = doc["id"].lower()
        sku = (body.get("sku") or {}).get("name")
        tags = body.get("tags") if "tags" in body else None

        def settle() -> None:
            self.busy.discard(key)
            if isinstance(size, int):
                doc["properties"].update(diskSizeGB=size, diskSizeBytes=size * 1024**3)
            if sku:
                doc["sku"] = {"name": sku, "tier": str(sku).split("_")[0]}
            if tags is not None:
                doc["tags"] = dict(tags)

        self.busy.add(key)
        return self._operation(request, f"{type_}/write", doc["id"], settle, status=202, body=self._view(doc))

    def _delete(self, request: ArmRequest, type_: str, doc: dict[str, Any]) -> Response:
        self._not_busy(doc)
        if doc.get("managedBy"):
            raise ArmError(
                409,
                "OperationNotAllowed",
                f"Disk {doc['name']} is attached to VM {doc['managedBy']}.",
            )
        key = doc["id"].lower()
        self.busy.add(key)

        def settle() -> None:
            self.busy.discard(key)
            self.fake.resources.pop(key, None)
            self.fake.content.pop(key, None)

        return self._operation(request, f"{type_}/delete", doc["id"], settle)


def _unknown(path: ArmPath) -> ArmError:
    kind = "/".join([path.namespace or "", *path.types] + ([path.action] if path.action else []))
    return ArmError(
        400,
        "InvalidResourceType",
        f"The resource type '{kind}' could not be found in the namespace '{path.namespace}' (or the fake does not "
        "serve it).",
    )
