"""An engine that fails (not the playbook: the server, its socket, its answer, ansible-runner) raises
BackendUnavailable at the engine seam, with the kind of failure and nothing of the request or the answer."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from shieldops_ansible.engines.base import RunRequest
from shieldops_ansible.engines.runner import RunnerEngine
from shieldops_ansible.engines.warm import WarmEngine, WarmServer
from shieldops_ansible.errors import BackendUnavailable

pytestmark = pytest.mark.integration

PLAYBOOKS = Path(__file__).resolve().parent.parent / "playbooks"
SECRET = "request-secret-4be1c9"


def _request(**overrides: object) -> RunRequest:
    fields: dict[str, object] = {
        "operation": "probe",
        "variables": {"probe_value": SECRET},
        "playbook": str(PLAYBOOKS / "probe.yml"),
        "secret_env": {"AWS_SESSION_TOKEN": SECRET},
        "timeout_s": 60,
    }
    return RunRequest(**(fields | overrides))  # type: ignore[arg-type]


@pytest.fixture
def server() -> Iterator[WarmServer]:
    own = WarmServer(extra_playbooks=[PLAYBOOKS])
    own.start()
    yield own
    own.stop()


@contextlib.contextmanager
def _impostor(path: Path, answer: bytes) -> Iterator[None]:
    """A listener in the server's place that answers ``answer`` to whatever connects."""
    path.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(4)
    listener.settimeout(30)

    def serve() -> None:
        with contextlib.suppress(OSError):
            conn, _ = listener.accept()
            with conn:
                conn.sendall(answer)
                # Take the client's lines (header, then the request if it sends one), so that closing does not
                # reset the connection under what it has still to read.
                conn.settimeout(2)
                received = b""
                while received.count(b"\n") < 2 and (chunk := conn.recv(1 << 20)):
                    received += chunk

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield
    finally:
        listener.close()
        thread.join(5)


@pytest.mark.parametrize(
    "answer",
    [
        f"garbled {SECRET} line\n".encode(),
        b'["not", "an", "event"]\n',
        b'{"event": "shieldops_hello"}\n{"event": "runner_on_ok", "event_data": {"res": ' + SECRET.encode() + b"\n",
    ],
)
async def test_a_garbled_answer_is_backend_unavailable(server: WarmServer, answer: bytes) -> None:
    with (
        _impostor(server.socket_path, answer),
        pytest.raises(BackendUnavailable, match="the warm engine failed") as caught,
    ):
        await WarmEngine(server).run(_request())
    assert SECRET not in str(caught.value) and "garbled" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_a_server_that_cannot_start_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHIELDOPS_PROJECT_DIR", "/nonexistent/shieldops-project")
    with pytest.raises(BackendUnavailable, match="the warm engine failed") as caught:
        await WarmEngine(WarmServer()).run(_request())
    assert SECRET not in str(caught.value)


async def test_a_connection_cut_mid_run_is_reported_not_raised_as_oserror(server: WarmServer) -> None:
    """The child dies mid-run: a failed RunResult (the run ended), never a raw OSError."""
    with _impostor(server.socket_path, b'{"event": "shieldops_hello"}\n{"event": "shieldops_started", "pid": 0}\n'):
        run = await WarmEngine(server).run(_request())
    assert run.status == "failed" and run.result is None
    assert run.failures == ["the warm engine's worker process ended without finishing the run"]


async def test_ansible_runner_raising_is_backend_unavailable(tmp_path: Path) -> None:
    # An inventory that is not a string makes ansible-runner itself raise (TypeError building its command line).
    with pytest.raises(BackendUnavailable, match=r"the runner engine failed \(TypeError\)") as caught:
        await RunnerEngine().run(_request(inventories=(5,)))
    assert SECRET not in str(caught.value)
    # And a private data dir that cannot be made (an OSError of ours, before ansible-runner).
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BackendUnavailable, match="the runner engine failed"):
        await RunnerEngine(keep_artifacts_in=blocker).run(_request())


async def test_a_server_whose_socket_is_gone_is_replaced(server: WarmServer) -> None:
    starts = server.starts
    with _impostor(server.socket_path, b"x\n"), pytest.raises(BackendUnavailable):
        await WarmEngine(server).run(_request())
    # The impostor is gone and so is the server's socket: the next request starts a new server.
    run = await WarmEngine(server).run(_request(secret_env={}))
    assert run.status == "successful" and run.result and run.result["value_seen"] == SECRET
    assert server.starts == starts + 1
