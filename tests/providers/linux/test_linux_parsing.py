"""Parsing of what Linux hosts report, including the systemd and journald paths that cannot run on these machines
(no systemd here): the inputs are verbatim shapes of service_facts, `systemctl show` and `journalctl -o json`."""

import importlib
import sys
from types import ModuleType

import pytest

from shieldops_ansible import InvalidRequest
from shieldops_ansible.paths import project_dir, role_path
from shieldops_ansible.providers.linux import LinuxProvider, LinuxSettings


def _load(name: str) -> ModuleType:
    # linux.py imports core.py, and core.py the collection's plugin_utils, by their collection path; give them one.
    sys.path.insert(0, str(project_dir() / "collections"))
    return importlib.import_module(f"ansible_collections.shieldops.connectors.plugins.filter.{name}")


_load("core")
linux = _load("linux")


def test_supervisorctl_status() -> None:
    out = (
        "web                              RUNNING   pid 3707, uptime 0:00:02\n"
        "worker                           FATAL     Exited too quickly (process log may have details)\n"
        "group:job                        STOPPED   Not started\n"
    )
    programs = linux.linux_supervisor_status(out)
    assert [(p["name"], p["native_state"], p["pid"]) for p in programs] == [
        ("web", "RUNNING", 3707),
        ("worker", "FATAL", None),
        ("group:job", "STOPPED", None),
    ]
    assert programs[1]["message"].startswith("Exited too quickly")


def test_systemd_service_facts_and_show() -> None:
    services = {
        "nginx.service": {"name": "nginx.service", "state": "running", "status": "enabled", "source": "systemd"},
        "cron.service": {"name": "cron.service", "state": "failed", "status": "enabled", "source": "systemd"},
        "ssh.socket": {"name": "ssh.socket", "state": "running", "status": "enabled", "source": "systemd"},
        "legacy": {"name": "legacy", "state": "running", "source": "sysv"},
    }
    units = linux.linux_systemd_services(services)
    assert {(u["name"], u["native_state"]) for u in units} == {("nginx.service", "active"), ("cron.service", "failed")}
    props = linux.linux_systemd_show("ActiveState=active\nSubState=running\nNRestarts=5\nMainPID=812\n")
    health = linux.linux_service_health("service/h/nginx.service", units[0], props, None, None)
    assert health["metrics"]["restarts"] == 5.0
    assert [c["status"] for c in health["checks"]] == ["healthy", "degraded"]


def test_journal_events() -> None:
    lines = "\n".join(
        [
            '{"__REALTIME_TIMESTAMP":"1764100000000000","PRIORITY":"3","MESSAGE":"nginx: bind failed",'
            '"SYSLOG_IDENTIFIER":"nginx","__CURSOR":"s=1"}',
            '{"__REALTIME_TIMESTAMP":"1764100001000000","PRIORITY":"6","MESSAGE":"Started nginx.service",'
            '"_SYSTEMD_UNIT":"init.scope","__CURSOR":"s=2"}',
            "not json",
        ]
    )
    events = linux.linux_journal_events(lines, "service/h/nginx.service")
    assert [(e["severity"], e["source"], e["type"]) for e in events] == [
        ("error", "journal", "journal:nginx"),
        ("info", "journal", "journal:init.scope"),
    ]
    assert events[0]["timestamp"].startswith("2025-11-25T")


def test_supervisor_log_events_for_one_program() -> None:
    log = (
        "2026-11-25 22:37:11,587 INFO spawned: 'worker' with pid 6086\n"
        "2026-11-25 22:37:11,618 WARN exited: worker (exit status 1; not expected)\n"
        "2026-11-25 22:37:11,700 INFO spawned: 'web' with pid 6090\n"
        "2026-11-25 22:37:13,651 INFO gave up: worker entered FATAL state, too many start retries too quickly\n"
    )
    events = linux.linux_supervisor_log_events(log, "service/h/worker", "worker")
    assert [e["severity"] for e in events] == ["info", "warning", "error"]
    assert all("worker" in e["message"] for e in events)


@pytest.mark.parametrize("action", ["start", "stop", "restart"])
def test_service_ids_and_actions(action: str) -> None:
    caps = LinuxProvider().capabilities
    native = caps.native_type_of("service/web-1/nginx.service")
    assert native.name == "linux_service" and caps.action(native, action).name == action
    assert caps.native_type_of("host/web-1.example.com").name == "host"
    for bad in ("service/web-1/-rf", "host/../etc", "service/web-1/a b", "host/-oProxyCommand=x"):
        with pytest.raises(InvalidRequest):
            caps.native_type_of(bad)


async def test_run_environment_is_agent_only_with_strict_host_keys(tmp_path: object) -> None:
    import os
    import socket
    from pathlib import Path

    sock = Path(str(tmp_path)) / "agent.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(sock))
    try:
        settings = LinuxSettings(
            provider="linux", inventory="/x/hosts.yml", known_hosts="/x/known_hosts", ssh_auth_sock=str(sock)
        )
        env = await LinuxProvider().credentials_env(settings)
    finally:
        server.close()
        os.unlink(sock)
    args = env["ANSIBLE_SSH_COMMON_ARGS"]
    assert env["SSH_AUTH_SOCK"] == str(sock)
    assert "StrictHostKeyChecking=yes" in args and "UserKnownHostsFile=/x/known_hosts" in args
    assert "PasswordAuthentication=no" in args and "ForwardAgent=no" in args
    assert not any("IdentityFile" in v or "PRIVATE" in v for v in env.values())


def _tasks(relative: str) -> list[dict[str, object]]:
    import yaml

    return list(yaml.safe_load((role_path("shieldops.connectors.linux") / "tasks" / relative).read_text()))


def test_systemd_commands_are_argv_lists_without_a_shell() -> None:
    """The systemd paths cannot run here; their command construction is checked as data."""
    show = next(t for t in _tasks("health/linux_service_details.yml") if t["name"] == "Read systemd details")
    argv = show["ansible.builtin.command"]["argv"]  # type: ignore[index]
    assert argv[:2] == ["systemctl", "show"] and argv[-1] == "{{ linux_svc.name }}"
    assert show["when"] == "linux_svc.manager == 'systemd'" and show["check_mode"] is False
    act = next(t for t in _tasks("act/linux_service_change.yml") if t["name"] == "Change the systemd unit")
    assert act["ansible.builtin.systemd_service"] == {
        "name": "{{ linux_svc.name }}",
        "state": "{{ linux_target_state }}",
    }
    journal = next(t for t in _tasks("read_logs.yml") if t["name"] == "Read the journal")
    text = str(journal["ansible.builtin.command"])
    assert "'journalctl', '-o', 'json'" in text and "'--unit', linux_log_unit" in text
    for path in (role_path("shieldops.connectors.linux") / "tasks").rglob("*.yml"):
        assert "ansible.builtin.shell" not in path.read_text(), path
