"""The azure role's filters and our modules' service layer, called directly: the checks that keep agent input out
of URLs and OData filters, and the decisions rollback makes (the integration tests drive them through runs)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "collections"))
from ansible_collections.shieldops.connectors.plugins.filter import azure as filters
from ansible_collections.shieldops.connectors.plugins.module_utils import azure_service

SUB = "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6"
VM = f"/subscriptions/{SUB}/resourceGroups/rg-web/providers/Microsoft.Compute/virtualMachines/web-1"


def test_an_id_names_its_parts_only_in_the_environments_subscription() -> None:
    parts = filters.azure_id_parts(VM.upper().replace("/SUBSCRIPTIONS/", "/subscriptions/"), SUB)
    assert parts["subscription_id"] == SUB and parts["name"] == "WEB-1" and parts["child_name"] is None
    with pytest.raises(AnsibleFilterError, match="is in subscription 99999999"):
        filters.azure_id_parts(VM.replace(SUB, "99999999-9999-4999-8999-999999999999"), SUB)


@pytest.mark.parametrize("wanted", ["rg/../other", "rg'x", "rg web", "r\u0433-web", "", "x" * 91])
def test_a_resource_group_filter_is_a_name_and_nothing_else(wanted: str) -> None:
    with pytest.raises(AnsibleFilterError, match="not a resource group name"):
        filters.azure_groups_to_list(None, {"resource_group": wanted})


def test_the_groups_a_listing_covers() -> None:
    assert filters.azure_groups_to_list(None, {}) == [None]
    assert filters.azure_groups_to_list(["rg-web", "rg-functions"], {}) == ["rg-web", "rg-functions"]
    assert filters.azure_groups_to_list(["rg-web"], {"resource_group": "RG-WEB"}) == ["RG-WEB"]
    # A group outside the configured ones lists nothing rather than reaching past the environment's scope.
    assert filters.azure_groups_to_list(["rg-web"], {"resource_group": "rg-prod"}) == []
    assert filters.azure_location("West Europe") == "westeurope"
    with pytest.raises(AnsibleFilterError):
        filters.azure_location("west/europe")


def _settings(**values: str) -> dict[str, Any]:
    return {"digests": {k: azure_service.settings_digest(v) for k, v in values.items()}}


def test_rollback_swaps_back_only_when_what_served_sits_in_a_slot() -> None:
    production, staging = _settings(APP_VERSION="1.4.2", DB="a"), _settings(APP_VERSION="1.5.0", DB="a")
    app = {"properties": {"state": "Running"}}
    snapshot = {"state": filters.azure_function_app_snapshot(app, production, [dict(staging, azure_slot="staging")])}
    # After a swap, production holds the slot's settings and the slot production's: swap back with that slot.
    swapped = filters.azure_function_app_rollback_plan(snapshot, app, staging, [dict(production, azure_slot="staging")])
    assert swapped["swap_with"] == "staging" and swapped["state_verb"] is None
    # Nothing moved: no swap; a stopped app is started again.
    stopped = {"properties": {"state": "Stopped"}}
    same = filters.azure_function_app_rollback_plan(
        snapshot, stopped, production, [dict(staging, azure_slot="staging")]
    )
    assert same["swap_with"] is None and same["state_verb"] == "start"
    # A setting changed in place, kept only as a digest, is named, not guessed.
    edited = _settings(APP_VERSION="1.4.2", DB="b")
    assert filters.azure_function_app_unrestored(snapshot, edited) == ["DB"]


class _Reader:
    subscription_id = SUB

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def pages(self, path: str, params: dict[str, str], limit: int) -> list[Any]:
        self.calls.append((path, params))
        return []


def test_the_activity_log_window_is_utc_and_at_most_90_days() -> None:
    reader = _Reader()
    azure_service.activity_log(reader, VM, "2020-01-01T00:00:00+00:00", "2026-12-02T10:30:00+01:00", 10)
    odata = reader.calls[0][1]["$filter"]
    # UTC with a Z (a + in a query string reads as a space), and no wider than ARM keeps.
    assert odata == (
        "eventTimestamp ge '2026-09-03T09:30:00Z' and eventTimestamp le '2026-12-02T09:30:00Z' "
        f"and resourceUri eq '{VM}'"
    )


@pytest.mark.parametrize(
    "resource_id",
    [VM + "' or '1' eq '1", VM + "?x=1", VM.replace("rg-web", "rg web"), VM.replace("web-1", "w\u0435b-1")],
)
def test_an_id_that_could_leave_its_place_in_a_url_or_filter_is_refused(resource_id: str) -> None:
    with pytest.raises(ValueError, match="not an ARM resource id"):
        azure_service.activity_log(_Reader(), resource_id, "2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", 10)
