"""Agent input is untrusted: template expressions, shell and YAML tricks, option and path injection, NUL bytes,
huge strings and wrong types go through every operation. Nothing may execute, and every error is a ShieldOpsError.

Every environment the sandbox publishes samples of (sandbox/backend.py: Samples) is covered, on those samples: a
provider with a sandbox backend is covered without a line here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible import Action, InfraConnector, ShieldOpsError, TimeRange, connect
from shieldops_ansible.sandbox.backend import Samples
from tests.support import Sandbox, action, hostile_reason, sampled_environments

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


@pytest.fixture(params=sampled_environments())
def environment(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
def samples(sandbox: Sandbox, environment: str) -> Samples:
    return sandbox.samples(environment)


@pytest.fixture
async def conn(environment: str, sandbox: Sandbox) -> AsyncIterator[InfraConnector]:
    async with connect(environment, config=sandbox.config) as connector:
        yield connector


def operations(conn: InfraConnector, samples: Samples) -> dict[str, Callable[[Any], Awaitable[Any]]]:
    instance, service = samples["instance"], samples["service"]
    return {
        "get_health": lambda p: conn.get_health(p),
        "list_resources.type": lambda p: conn.list_resources(p, {}),
        "list_resources.filters": lambda p: conn.list_resources("instance", p),
        "list_resources.filter_key": lambda p: conn.list_resources("instance", {p: "x"} if isinstance(p, str) else p),
        "execute_action.type": lambda p: conn.execute_action(Action.model_construct(type=p, resource_id=instance)),
        "execute_action.resource_id": lambda p: conn.execute_action(
            Action.model_construct(type="start", resource_id=p)
        ),
        "execute_action.parameter": lambda p: conn.execute_action(
            # An int is a valid count; its negative is not.
            Action.model_construct(
                type="scale", resource_id=service, parameters={"replicas": -p if type(p) is int else p}, dry_run=True
            )
        ),
        "execute_action.parameter_name": lambda p: conn.execute_action(
            Action.model_construct(type="scale", resource_id=service, parameters={p: 1} if isinstance(p, str) else p)
        ),
        "get_events.resource_id": lambda p: conn.get_events(p, TimeRange.last(minutes=5)),
        "get_events.time_range": lambda p: conn.get_events(instance, p),
        "create_snapshot": lambda p: conn.create_snapshot(p),
        "rollback": lambda p: conn.rollback(p),
    }


async def test_rejected_before_any_run(conn: InfraConnector, samples: Samples, canary: Path) -> None:
    """Every payload in every request slot is refused by validation with a ShieldOpsError."""
    for name, call in operations(conn, samples).items():
        for payload in payloads(canary):
            try:
                await call(payload)
            except ShieldOpsError as exc:
                assert len(str(exc)) < 2000, (name, "error messages stay bounded")
                assert "\x00" not in str(exc) and "\n" not in str(exc).strip(), (name, "errors are escaped")
            else:
                pytest.fail(f"{name} accepted {str(payload)[:60]!r}")
    assert not canary.exists()


async def test_free_text_reaches_ansible_as_data(conn: InfraConnector, samples: Samples, canary: Path) -> None:
    """Free-text fields (name glob, tag values, reason) are valid input: they reach Ansible and stay data."""
    expressions = [p for p in payloads(canary)[:3]] + [f"$(touch {canary})"]
    for expr in expressions:
        assert await conn.list_resources("instance", {"name": expr}) == []
        assert await conn.list_resources("instance", {"tags": {"Name": expr}}) == []
    result = await conn.execute_action(action(samples["dry_run_action"], dry_run=True, reason=expressions[0]))
    assert result.status == "dry_run"
    assert not canary.exists()


async def test_live_actions_with_a_hostile_reason(
    sandbox: Sandbox, canary: Path, environment: str, samples: Samples
) -> None:
    """Each environment carries a shell-laden reason through a real action (snapshot first) as data."""
    act = action(samples["live_action"], reason=hostile_reason(canary))
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
