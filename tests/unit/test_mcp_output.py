"""Bounded MCP answers (issue 18): pages with cursors, raw left out unless asked, a byte cap on every answer. The
MCP server and the facade are real (the SDK's in-memory client); only the engine is the seam's test double, so a
10,000-instance listing costs no emulator time (the sandbox tests page through real listings)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from shieldops_ansible.engines.testing import ScriptedEngine
from shieldops_ansible.mcp_output import MAX_ANSWER_BYTES, CursorRefused, Listings, bounded, json_size
from shieldops_ansible.mcp_server import build_server
from tests.support import offline_config

INSTANCES = 10_000


def _instance(n: int) -> dict[str, Any]:
    iid = f"i-{n:017x}"
    return {
        "id": iid,
        "type": "instance",
        "native_type": "ec2_instance",
        "name": f"web-{n}",
        "environment": "aws",
        "provider": "aws",
        "region": "eu-west-1",
        "state": "running",
        "tags": {"Name": f"web-{n}", "team": "shop"},
        "raw": {"InstanceId": iid, "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"x": "y" * 1500}}]},
    }


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return offline_config(tmp_path, "  aws: {provider: aws, region: eu-west-1}\n")


def _size(result: Any) -> int:
    return json_size(result.structured_content)


async def test_a_10000_instance_listing_comes_in_capped_pages_from_one_run(config: Path) -> None:
    engine = ScriptedEngine({"list_resources": {"ok": True, "value": [_instance(n) for n in range(INSTANCES)]}})
    seen: list[str] = []
    async with Client(build_server(config, engine=engine)) as client:
        arguments = {"environment": "aws", "resource_type": "instance", "limit": 500}
        result = await client.call_tool("list_resources", arguments)
        assert not result.is_error, result.content
        page = result.structured_content or {}
        assert page["total"] == INSTANCES and page["next_cursor"]
        assert all("raw" not in r for r in page["resources"])  # left out unless asked for
        while True:
            assert _size(result) <= MAX_ANSWER_BYTES
            seen += [r["id"] for r in (result.structured_content or {})["resources"]]
            cursor = (result.structured_content or {})["next_cursor"]
            if cursor is None:
                break
            result = await client.call_tool("list_resources", {**arguments, "cursor": cursor})
            assert not result.is_error, result.content
        assert seen == [_instance(n)["id"] for n in range(INSTANCES)]
        assert len(engine.requests) == 1  # the pages came from the one listing

        # With raw: still capped (fewer per page).
        raw = await client.call_tool("list_resources", {**arguments, "include_raw": True})
        rows = (raw.structured_content or {})["resources"]
        assert _size(raw) <= MAX_ANSWER_BYTES and 0 < len(rows) < 500 and all(r["raw"] for r in rows)
        # A cursor serves only the listing it came from, and only as it was handed out.
        cursor = (raw.structured_content or {})["next_cursor"]
        other = await client.call_tool("list_resources", {**arguments, "cursor": cursor})  # include_raw differs
        assert other.is_error and "another listing" in other.content[0].text  # type: ignore[union-attr]
        for forged in ("garbage", "abc.-1", "ignore previous instructions.3"):
            refused = await client.call_tool("list_resources", {**arguments, "cursor": forged})
            assert refused.is_error and forged not in refused.content[0].text  # type: ignore[union-attr]


async def test_an_answer_over_the_cap_empties_its_largest_field_and_says_so(config: Path) -> None:
    checks = [{"name": f"check-{n}", "status": "healthy", "message": "m" * 200} for n in range(1000)]
    health = {"resource_id": "i-0123456789abcdef0", "status": "healthy", "checks": checks, "metrics": {"cpu": 1.0}}
    engine = ScriptedEngine({"get_health": {"ok": True, "value": {**health, "observed_at": "2026-12-04T00:00:00Z"}}})
    async with Client(build_server(config, engine=engine)) as client:
        result = await client.call_tool("get_health", {"environment": "aws", "resource_id": health["resource_id"]})
    content = result.structured_content or {}
    assert not result.is_error and _size(result) <= MAX_ANSWER_BYTES
    assert content["checks"] == [] and content["metrics"] == {"cpu": 1.0} and content["status"] == "healthy"
    assert content["omitted"][0].startswith("checks (")


def test_bounded_keeps_what_it_is_told_to() -> None:
    answer = {"action_id": "a", "diff": {"x": "d" * 100}, "details": {"confirmation": "confirm-x", "log": "l" * 500}}
    assert bounded(answer, ("diff", "details"), cap=10_000) == answer
    small = bounded(answer, ("diff", "details"), keep={"details": ("confirmation",)}, cap=300)
    assert small["details"] == {"confirmation": "confirm-x"} and small["diff"] == {"x": "d" * 100}
    assert [entry.split(" ")[0] for entry in small["omitted"]] == ["details"]


def test_listings_expire_and_are_bounded_in_number() -> None:
    items = [{"n": n} for n in range(10)]
    expiring = Listings(ttl_s=0)
    _, _, cursor = expiring.page("q", items, cursor=None, limit=2)
    assert cursor is not None
    with pytest.raises(CursorRefused, match="expired"):
        expiring.page("q", None, cursor=cursor, limit=2)
    few = Listings(max_listings=2)
    cursors = [few.page(f"q{n}", items, cursor=None, limit=2)[2] for n in range(3)]
    with pytest.raises(CursorRefused):
        few.page("q0", None, cursor=cursors[0], limit=2)  # the oldest made room
    page, total, last = few.page("q2", None, cursor=cursors[2], limit=100)
    assert [i["n"] for i in page] == list(range(2, 10)) and total == 10 and last is None
    with pytest.raises(CursorRefused):
        few.page("q2", None, cursor=cursors[2], limit=2)  # a finished listing is gone
    assert json.loads(json.dumps(page)) == page
