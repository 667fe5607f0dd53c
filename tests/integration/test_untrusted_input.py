"""Agent input is untrusted: template expressions, shell and YAML tricks, option and path injection, NUL bytes,
huge strings and wrong types go through every operation. Nothing may execute, and every error is a ShieldOpsError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible import Action, InfraConnector, ShieldOpsError, TimeRange, connect
from tests.support import Sandbox

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("canary") / "pwned"


def payloads(canary: Path) -> list[Any]:
    return [
        f"{{{{ lookup('pipe', 'touch {canary}') }}}}",
        f"{{{{ lookup('ansible.builtin.pipe', 'touch {canary}') | default('x') }}}}",
        f"{{% set x = lookup('pipe', 'touch {canary}') %}}",
        f"$(touch {canary})",
        f"`touch {canary}`",
        f"i-0123456789abcdef0; touch {canary}",
        f"i-0123456789abcdef0 && touch {canary}",
        "i-0123456789abcdef0\nshieldops_state_dir: /tmp/evil",
        '{"resource_id": "x", "__import__": "os"}',
        "!unsafe '{{ 7 * 7 }}'",
        "-e @/etc/shadow",
        "--extra-vars=@/etc/shadow",
        "../../../../etc/passwd",
        "snap-../../../etc/passwd",
        "i-0123456789abcdef0\x00",
        "x" * 200_000,
        123,
        None,
        ["i-0123456789abcdef0"],
        {"id": "i-0123456789abcdef0"},
        b"i-0123456789abcdef0",
    ]


@pytest.fixture(params=["aws", "linux", "kubernetes"])
async def conn(request: pytest.FixtureRequest, sandbox: Sandbox) -> AsyncIterator[InfraConnector]:
    async with connect(request.param, config=sandbox.config) as connector:
        yield connector


def _ids(conn: InfraConnector, sandbox: Sandbox) -> tuple[str, str]:
    """A valid instance id and a valid service id of the connector's environment."""
    if conn.provider == "aws":
        return sandbox.aws("instance/web-2"), sandbox.aws("service/api")
    if conn.provider == "kubernetes":
        return "node/node-1", "deployment/shop/web"
    return "host/web-2", "service/web-1/web"


def operations(conn: InfraConnector, sandbox: Sandbox) -> dict[str, Callable[[Any], Awaitable[Any]]]:
    web2, api = _ids(conn, sandbox)
    return {
        "get_health": lambda p: conn.get_health(p),
        "list_resources.type": lambda p: conn.list_resources(p, {}),
        "list_resources.filters": lambda p: conn.list_resources("instance", p),
        "list_resources.filter_key": lambda p: conn.list_resources("instance", {p: "x"} if isinstance(p, str) else p),
        "execute_action.type": lambda p: conn.execute_action(Action.model_construct(type=p, resource_id=web2)),
        "execute_action.resource_id": lambda p: conn.execute_action(
            Action.model_construct(type="start", resource_id=p)
        ),
        "execute_action.parameter": lambda p: conn.execute_action(
            # An int is a valid count; its negative is not.
            Action.model_construct(
                type="scale", resource_id=api, parameters={"replicas": -p if type(p) is int else p}, dry_run=True
            )
        ),
        "execute_action.parameter_name": lambda p: conn.execute_action(
            Action.model_construct(type="scale", resource_id=api, parameters={p: 1} if isinstance(p, str) else p)
        ),
        "get_events.resource_id": lambda p: conn.get_events(p, TimeRange.last(minutes=5)),
        "get_events.time_range": lambda p: conn.get_events(web2, p),
        "create_snapshot": lambda p: conn.create_snapshot(p),
        "rollback": lambda p: conn.rollback(p),
    }


async def test_rejected_before_any_run(conn: InfraConnector, sandbox: Sandbox, canary: Path) -> None:
    """Every payload in every request slot is refused by validation with a ShieldOpsError."""
    for name, call in operations(conn, sandbox).items():
        for payload in payloads(canary):
            try:
                await call(payload)
            except ShieldOpsError as exc:
                assert len(str(exc)) < 2000, (name, "error messages stay bounded")
                assert "\x00" not in str(exc) and "\n" not in str(exc).strip(), (name, "errors are escaped")
            else:
                pytest.fail(f"{name} accepted {str(payload)[:60]!r}")
    assert not canary.exists()


async def test_free_text_reaches_ansible_as_data(conn: InfraConnector, sandbox: Sandbox, canary: Path) -> None:
    """Free-text fields (name glob, tag values, reason) are valid input: they reach Ansible and stay data."""
    expressions = [p for p in payloads(canary)[:3]] + [f"$(touch {canary})"]
    for expr in expressions:
        assert await conn.list_resources("instance", {"name": expr}) == []
        assert await conn.list_resources("instance", {"tags": {"Name": expr}}) == []
    instance, _service = _ids(conn, sandbox)
    action = {"aws": "start", "linux": "restart", "kubernetes": "kubernetes_cordon"}[conn.provider]
    result = await conn.execute_action(Action(type=action, resource_id=instance, dry_run=True, reason=expressions[0]))
    assert result.status == "dry_run"
    assert not canary.exists()


async def test_unsafe_tagging_holds_in_ansible_itself(tmp_path: Path, canary: Path) -> None:
    """The request-file format keeps a template expression literal through ansible-playbook (ansible-core 2.19
    templates plain extra vars)."""
    import subprocess
    import sys

    from shieldops_ansible.engines.request_file import dump_unsafe

    expr = f"{{{{ lookup('pipe', 'touch {canary}') }}}}"
    request = tmp_path / "request.yml"
    request.write_text(
        dump_unsafe({"probe": {"nested": [expr]}, "plain": expr, "kinds": ["true", "0123", "null", "1.5"]})
    )
    playbook = tmp_path / "probe.yml"
    content = '\'{{ probe.nested[0] }}|{{ plain }}|{{ kinds | map("type_debug") | join(",") }}\''
    playbook.write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        f"    - ansible.builtin.copy:\n        content: {content}\n"
        f"        dest: {tmp_path}/out.txt\n        mode: '0600'\n"
    )
    bindir = Path(sys.executable).parent
    proc = subprocess.run(
        [
            str(bindir / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"@{request}",
            str(playbook),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # Strings stay strings, whatever they look like.
    assert (tmp_path / "out.txt").read_text() == f"{expr}|{expr}|" + ",".join(["str"] * 4)
    assert not canary.exists()
