"""Agent input is untrusted: template expressions, shell and YAML tricks, option and path injection, NUL bytes,
huge strings and wrong types go through every operation. Nothing may execute, and every error is a ShieldOpsError.
"""

from __future__ import annotations

import json
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


def hostile_reason(canary: Path) -> str:
    """A reason that validation accepts and that runs `touch CANARY` wherever a shell sees it, however it is
    quoted: a single quote, then it closes a double quote, substitutes a command both ways and reopens it."""
    return f'it\'s ok"; touch {canary}; echo "`touch {canary}`$(touch {canary})'


# What ansible.builtin.reboot runs on a sandbox host for a host restart: the first `shutdown` in its search paths,
# `-r 0` and the role's fixed message.
_SEARCH_PATHS = ("/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin")
_SHUTDOWN = next((f"{d}/shutdown" for d in _SEARCH_PATHS if Path(d, "shutdown").exists()), "/usr/local/sbin/shutdown")
REBOOT_ARGV = [_SHUTDOWN, "-r", "0", "Reboot requested through shieldops-ansible"]


def shutdown_calls(sandbox: Sandbox, host: str) -> list[list[str]]:
    """The argv of every call of the host's stand-in shutdown (one JSON line each, written on the host)."""
    lines = (sandbox.linux_dir / host / "shutdown_calls.jsonl").read_text().splitlines()
    return [json.loads(line)["argv"] for line in lines]


async def test_live_host_restart_keeps_the_reason_off_the_command_line(sandbox: Sandbox, canary: Path) -> None:
    """A real (not dry-run) reboot through ansible.builtin.reboot's default path, whose shutdown command line the
    host's shell runs: the reason must not reach it (the old role put it into the message)."""
    reason = hostile_reason(canary)
    before = shutdown_calls(sandbox, "web-2")
    boot_id = (sandbox.linux_dir / "web-2" / "boot_id").read_text()
    async with connect("linux", config=sandbox.config) as conn:
        result = await conn.execute_action(Action(type="restart", resource_id="host/web-2", reason=reason))
    assert result.success and result.status == "succeeded", result.message
    assert (sandbox.linux_dir / "web-2" / "boot_id").read_text() != boot_id  # it did go through the reboot
    # The hosts share this machine's filesystem: one look covers host and controller.
    assert not canary.exists()
    calls = shutdown_calls(sandbox, "web-2")[len(before) :]
    assert calls == [REBOOT_ARGV]
    assert not any(word in arg for arg in calls[0] for word in ("touch", canary.name, "$", "`", '"'))


@pytest.mark.parametrize(
    ("environment", "action"),
    [
        ("aws", lambda s: Action(type="scale", resource_id=s.aws("service/api"), parameters={"replicas": 3})),
        ("kubernetes", lambda s: Action(type="restart", resource_id="deployment/shop/web")),
        ("linux", lambda s: Action(type="restart", resource_id="service/web-1/web")),
    ],
)
async def test_live_actions_with_a_hostile_reason(
    sandbox: Sandbox, canary: Path, environment: str, action: Callable[[Sandbox], Action]
) -> None:
    """Each provider carries a shell-laden reason through a real action (snapshot first) as data."""
    act = action(sandbox).model_copy(update={"reason": hostile_reason(canary)})
    async with connect(environment, config=sandbox.config) as conn:
        result = await conn.execute_action(act)
    assert result.success and result.status == "succeeded" and result.snapshot_id, result.message
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
