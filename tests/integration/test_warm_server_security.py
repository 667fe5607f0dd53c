"""The warm server's socket as an attacker would use it: it serves only its owner, and only our playbooks, the
inventories and environment names the named environment gives, bounded requests and a bounded number of runs.

Each hostile request would leave a canary file behind if the server ran it (a playbook that writes it, an
inventory or a request variable that makes tests/playbooks/probe.yml write it); a positive control shows that the
same mechanism does write it when the request is one the server may run.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible.engines.base import RunRequest
from shieldops_ansible.engines.warm import WarmEngine, WarmServer
from shieldops_ansible.engines.warm.engine import request_header, request_payload
from shieldops_ansible.engines.warm.server import peer_allowed
from shieldops_ansible.errors import BackendUnavailable
from tests.support import run_as_nobody

pytestmark = pytest.mark.integration

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
PROBE = str(PLAYBOOKS / "probe.yml")
CAP = 2


@pytest.fixture(scope="module")
def server() -> Iterator[WarmServer]:
    own = WarmServer(extra_playbooks=[PLAYBOOKS], max_requests=CAP)
    own.start()
    yield own
    own.stop()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A config file whose `hosts` environment names one inventory, and whose `evil` one names an inventory that
    makes the probe write a canary."""
    good = tmp_path / "hosts.yml"
    good.write_text(yaml.safe_dump({"all": {"hosts": {"web-9": {"ansible_host": "192.0.2.9"}}}}))
    evil = tmp_path / "evil-inventory.yml"
    evil.write_text(
        yaml.safe_dump({"all": {"hosts": {"localhost": {"probe_file": str(tmp_path / "inventory-canary")}}}})
    )
    doc = {
        "environments": {
            "hosts": {"provider": "linux", "inventory": str(good)},
            "evil": {"provider": "linux", "inventory": str(evil)},
        }
    }
    path = tmp_path / "shieldops.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


Line = dict[str, Any] | bytes


def _raw(server: WarmServer, header: Line, request: Line) -> list[dict[str, Any]]:
    """One request straight to the socket, as any local process could send it; every event of the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(120)
        conn.connect(str(server.socket_path))
        answers = conn.makefile("rb")
        conn.sendall(_line(header))
        first = json.loads(answers.readline())
        if first["event"] == "shieldops_refused":
            return [first]
        assert first["event"] == "shieldops_hello"
        conn.sendall(_line(request))
        return [json.loads(raw) for raw in answers]


def _line(value: Line) -> bytes:
    return value if isinstance(value, bytes) else json.dumps(value).encode() + b"\n"


def _lines(request: RunRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    return request_header(request), request_payload(request)


def _probe(**variables: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return _lines(RunRequest("probe", variables, playbook=PROBE))


def _refused(events: list[dict[str, Any]], reason: str) -> None:
    assert [e["event"] for e in events] == ["shieldops_refused"], events
    assert reason in events[0]["reason"]


def _finished(events: list[dict[str, Any]]) -> bool:
    return bool(events) and events[-1] == {"event": "shieldops_finished", "rc": 0}


def test_the_probe_writes_its_canary_when_the_request_may_run(server: WarmServer, tmp_path: Path) -> None:
    """The positive control of every test below: an allowed request does leave the canary."""
    canary = tmp_path / "canary"
    assert _finished(_raw(server, *_probe(probe_file=str(canary))))
    assert canary.exists()


def test_a_foreign_playbook_is_refused(server: WarmServer, tmp_path: Path) -> None:
    canary = tmp_path / "playbook-canary"
    evil = tmp_path / "evil.yml"
    evil.write_text(
        yaml.safe_dump(
            [
                {
                    "hosts": "localhost",
                    "gather_facts": False,
                    "tasks": [{"ansible.builtin.copy": {"content": "x", "dest": str(canary)}}],
                }
            ]
        )
    )
    by_traversal = str(PLAYBOOKS) + "/" + os.path.relpath(evil, PLAYBOOKS)
    for playbook in (str(evil), by_traversal, "/etc/passwd", str(PLAYBOOKS)):
        _refused(_raw(server, *_lines(RunRequest("probe", {}, playbook=playbook))), "the playbook is neither")
    assert not canary.exists()


def test_an_unknown_operation_is_refused(server: WarmServer, tmp_path: Path) -> None:
    canary = tmp_path / "operation-canary"
    for operation in ("probe", "../../tests/playbooks/probe", "get_health.yml", ""):
        _refused(_raw(server, *_lines(RunRequest(operation, {"probe_file": str(canary)}))), "unknown operation")
    assert not canary.exists()


def test_only_the_inventories_the_environment_names(server: WarmServer, config: Path, tmp_path: Path) -> None:
    canary = tmp_path / "inventory-canary"
    evil = str(tmp_path / "evil-inventory.yml")
    good = str(tmp_path / "hosts.yml")

    def probe(environment: str | None, inventories: tuple[str, ...]) -> tuple[dict[str, Any], dict[str, Any]]:
        return _lines(
            RunRequest(
                "probe",
                {"probe_value": "v"},
                playbook=PROBE,
                inventories=inventories,
                config=str(config) if environment else None,
                environment=environment,
            )
        )

    assert _finished(_raw(server, *probe("hosts", (good,))))  # what the environment names
    _refused(_raw(server, *probe("hosts", (evil,))), "the inventories are not those the environment names")
    _refused(_raw(server, *probe("hosts", (good, evil))), "the inventories are not those")
    _refused(_raw(server, *probe(None, (evil,))), "the inventories are not those")
    _refused(_raw(server, *probe("nope", (good,))), "cannot be loaded")
    header, body = probe("hosts", (good,))
    _refused(_raw(server, header | {"config": "shieldops.yaml"}, body), "absolute path")
    _refused(_raw(server, header | {"environment": None}, body), "go together")
    assert not canary.exists()
    # The same inventory, named by its environment, is loaded (and so would have written the canary above).
    assert _finished(_raw(server, *probe("evil", (evil,))))
    assert canary.exists()
    # The server keeps what it derived only while the file is unchanged: an edit is seen by the next request.
    doc = yaml.safe_load(config.read_text())
    doc["environments"]["hosts"]["inventory"] = evil
    config.write_text(yaml.safe_dump(doc))
    assert _finished(_raw(server, *probe("hosts", (evil,))))
    _refused(_raw(server, *probe("hosts", (good,))), "the inventories are not those")


def test_environment_names_outside_the_allow_list_are_refused(server: WarmServer, config: Path, tmp_path: Path) -> None:
    canary = tmp_path / "env-canary"
    for name in ("LD_PRELOAD", "OPENAI_API_KEY", "PYTHONPATH", "ANSIBLE_CONFIG", "ANSIBLE_LIBRARY", "PATH"):
        header, body = _probe(probe_file=str(canary))
        _refused(
            _raw(server, header, body | {"env": {name: str(tmp_path / "x")}}),
            f"environment variables this run may not have: '{name}'",
        )
    # Per provider: a Linux environment's run may not receive AWS credentials.
    header, linux = _lines(
        RunRequest(
            "probe",
            {"probe_file": str(canary)},
            playbook=PROBE,
            config=str(config),
            environment="hosts",
            inventories=(str(tmp_path / "hosts.yml"),),
            secret_env={"SSH_AUTH_SOCK": "/nonexistent", "AWS_SECRET_ACCESS_KEY": "k"},
        )
    )
    _refused(_raw(server, header, linux), "'AWS_SECRET_ACCESS_KEY'")
    assert not canary.exists()
    linux["env"].pop("AWS_SECRET_ACCESS_KEY")
    assert _finished(_raw(server, header, linux)) and canary.exists()


def test_an_oversized_request_is_refused(server: WarmServer, tmp_path: Path) -> None:
    canary = tmp_path / "size-canary"
    header, body = _probe(probe_file=str(canary), padding="x" * (2 << 20))
    _refused(_raw(server, header, body), "larger than 1048576 bytes")
    _refused(_raw(server, header, b"{" * (2 << 20)), "larger than")  # no newline at all: still refused at the cap
    _refused(_raw(server, header, b"not json\n"), "not JSON")
    # The header has a cap of its own, and is checked before any fork.
    _refused(_raw(server, {"cwd": "/" * (16 << 10)}, body), "request header is larger than 8192 bytes")
    _refused(_raw(server, b"[]\n", body), "header is not a JSON object")
    assert not canary.exists()
    assert server.alive() and _finished(_raw(server, *_probe(probe_value="after")))


def test_the_peer_check_refuses_another_uid(server: WarmServer) -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert peer_allowed(left, os.getuid())
        assert not peer_allowed(left, os.getuid() + 1)


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to connect as another user")
def test_a_client_of_another_uid_is_refused(server: WarmServer, tmp_path: Path) -> None:
    """Past the socket's mode (opened up here on purpose), the server itself refuses a process of another uid."""
    canary = tmp_path / "peer-canary"
    tmp_path.chmod(0o777)
    client = (
        "import json, socket, sys\n"
        "s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile('rb')\n"
        "s.sendall(sys.argv[2].encode() + b'\\n')\n"
        "first = f.readline(); print(first.decode().strip())\n"
        "if b'hello' in first: s.sendall(sys.argv[3].encode() + b'\\n'); print(f.read().decode())\n"
    )
    header, body = _probe(probe_file=str(canary))
    folder = server.socket_path.parent
    folder.chmod(0o711)
    server.socket_path.chmod(0o666)
    try:
        out = run_as_nobody(client, str(server.socket_path), json.dumps(header), json.dumps(body))
    finally:
        folder.chmod(0o700)
        server.socket_path.chmod(0o600)
    first = json.loads(out.splitlines()[0])
    assert first["event"] == "shieldops_refused" and "only its owner" in first["reason"]
    assert not canary.exists()


def _sleeping(marker: str) -> int:
    count = 0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if f"sleep {marker}".encode() in (proc / "cmdline").read_bytes().replace(b"\0", b" "):
                    count += 1
            except OSError:
                continue
    return count


async def test_runs_beyond_the_cap_are_refused_and_the_server_stays_up(server: WarmServer, tmp_path: Path) -> None:
    engine = WarmEngine(server)
    marker = "3600.75"
    hanging = [
        asyncio.create_task(engine.run(RunRequest("probe", {"probe_sleep": marker}, playbook=PROBE, timeout_s=120)))
        for _ in range(CAP)
    ]
    try:
        for _ in range(600):
            if _sleeping(marker) >= CAP:
                break
            await asyncio.sleep(0.1)
        assert _sleeping(marker) == CAP
        pid = server.pid
        canary = tmp_path / "cap-canary"
        events = await asyncio.to_thread(_raw, server, *_probe(probe_file=str(canary)))
        _refused(events, f"busy: {CAP} requests are running")
        assert events[0]["busy"] is True and not canary.exists()
        # The engine waits for a slot instead (within its request's timeout).
        waiting = asyncio.create_task(engine.run(RunRequest("probe", {"probe_value": "w"}, playbook=PROBE)))
        await asyncio.sleep(1.0)
        assert not waiting.done()
        hanging[0].cancel()
        done = await asyncio.wait_for(waiting, 60)
        assert done.status == "successful" and done.result and done.result["value_seen"] == "w"
        assert server.pid == pid
    finally:
        for task in hanging:
            task.cancel()
        await asyncio.gather(*hanging, return_exceptions=True)
    # More requests at once than the cap, through the engine: all served, none refused.
    results = await asyncio.gather(
        *(engine.run(RunRequest("probe", {"probe_value": f"v{i}"}, playbook=PROBE)) for i in range(3 * CAP))
    )
    assert [r.result and r.result["value_seen"] for r in results] == [f"v{i}" for i in range(3 * CAP)]


def test_a_refusal_reaches_the_caller_as_backend_unavailable(server: WarmServer, tmp_path: Path) -> None:
    engine = WarmEngine(server)
    with pytest.raises(BackendUnavailable, match="refused the run: unknown operation") as caught:
        asyncio.run(engine.run(RunRequest("evil", {"probe_file": str(tmp_path / "c")})))
    assert str(tmp_path) not in str(caught.value)


def _servers() -> set[int]:
    """Warm servers this test process started (other processes on the machine may run their own)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if parent == os.getpid() and b"engines.warm.server" in (proc / "cmdline").read_bytes():
                    found.add(int(proc.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def test_a_server_that_does_not_get_ready_in_time_is_killed() -> None:
    before = _servers()
    slow = WarmServer(start_timeout_s=0.2)  # far less than its imports take
    with pytest.raises(BackendUnavailable, match=r"did not start within 0\.2 s"):
        slow.start()
    assert slow.pid is None and _servers() - before == set()
    with pytest.raises(BackendUnavailable, match="did not start"):
        asyncio.run(WarmEngine(slow).run(RunRequest("probe", {}, playbook=PROBE)))
    assert slow.pid is None and _servers() - before == set()
