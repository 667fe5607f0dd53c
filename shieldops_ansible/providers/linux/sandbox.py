"""The Linux part of the sandbox: real OpenSSH hosts, an ssh-agent, supervisord-managed services.

Two hosts live in network namespaces of their own (own address, own hostname through a UTS namespace); a third
listens on loopback. Each runs sshd with its own host key and a supervisord with sample programs: `web` (a small
HTTP server, healthy) on web-1 and `worker` (exits at once, so supervisord gives up on it: FATAL) on web-2.
An ssh-agent holds the only client key; its private key file is deleted once the agent has it.
systemd cannot run here: the sandbox exercises the supervisord path; the systemd path is covered by unit tests.

The hosts share this machine's kernel, so a reboot cannot be real, but the product's reboot path is:
ansible.builtin.reboot with its defaults finds `shutdown` on the host, runs it through the host's shell and
watches /proc/sys/kernel/random/boot_id. Each host's daemons run in a private mount namespace of their own in
which a per-host stand-in covers that `shutdown` and a per-host file covers the boot id; the stand-in records
its argv (one JSON line per call in the host's folder, `shutdown_calls.jsonl`), restarts the host's programs
and writes a new boot id. The machine's own mount namespace is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ...sandbox.backend import Samples, StartedBackend, free_port, spawn, stop_process_groups

__all__ = ["SAMPLES", "LinuxHost", "LinuxSandbox", "LinuxSandboxBackend", "start_linux", "stop_linux"]

SSHD = "/usr/sbin/sshd"
# ansible.builtin.reboot's defaults (ansible-core plugins/action/reboot.py): the directories its find module
# searches for `shutdown`, in order, and the file its boot time command reads.
REBOOT_SEARCH_PATHS = ("/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin")
BOOT_ID = "/proc/sys/kernel/random/boot_id"
SHUTDOWN_CALLS = "shutdown_calls.jsonl"


class LinuxSandboxError(RuntimeError):
    pass


@dataclass
class LinuxHost:
    name: str
    address: str
    port: int
    netns: str | None
    directory: Path
    programs: dict[str, str]


@dataclass
class LinuxSandbox:
    directory: Path
    hosts: list[LinuxHost]
    agent_socket: Path
    known_hosts: Path
    inventory: Path
    pids: dict[str, int] = field(default_factory=dict)
    netns: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    octet: int | None = None  # the 169.254.OCTET.0/24 block of its namespaced hosts

    def environment(self) -> dict[str, Any]:
        return {
            "provider": "linux",
            "inventory": str(self.inventory),
            "known_hosts": str(self.known_hosts),
            "ssh_auth_sock": str(self.agent_socket),
            # The hosts share this machine's load average: under a busy test run (two workers, sandboxes starting)
            # the load check would judge the test run, not the host. Memory and disk keep the defaults.
            "thresholds": {"load_per_core": {"degraded": 32, "unhealthy": 64}},
        }


def _run(*args: str) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=30)
    if proc.returncode != 0:
        raise LinuxSandboxError(f"{' '.join(args)} failed: {proc.stderr.strip()[:300]}")
    return proc.stdout


def _wait_tcp(address: str, port: int, timeout_s: float, netns: str | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=1) as sock:
                if sock.recv(4).startswith(b"SSH"):
                    return
        except OSError:
            time.sleep(0.1)
    raise LinuxSandboxError(f"sshd on {address}:{port} not ready after {timeout_s:.0f} s")


def _wait_unix_socket(path: Path, timeout_s: float) -> None:
    # The socket file appears at bind(), before the agent listens: wait until a connection is accepted.
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))
                return
        except OSError:
            time.sleep(0.05)
    raise LinuxSandboxError(f"ssh-agent did not listen on {path} within {timeout_s:.0f} s")


def _wait_programs_settled(host: LinuxHost, timeout_s: float) -> None:
    """Ready means every program has reached a lasting state (RUNNING, FATAL...), not STARTING or BACKOFF."""
    ctl = [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(host.directory / "supervisord.conf"), "status"]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        out = subprocess.run(ctl, capture_output=True, text=True, timeout=10, check=False).stdout
        states = {line.split()[0]: line.split()[1] for line in out.splitlines() if len(line.split()) > 1}
        if set(host.programs) <= set(states) and not {"STARTING", "BACKOFF"} & set(states.values()):
            return
        time.sleep(0.2)
    raise LinuxSandboxError(f"supervisord programs on {host.name} did not settle in {timeout_s:.0f} s")


def _sshd_config(host: LinuxHost, listen: str) -> str:
    d = host.directory
    return "\n".join(
        [
            f"ListenAddress {listen}",
            f"Port {host.port}",
            f"HostKey {d / 'ssh_host_ed25519_key'}",
            f"PidFile {d / 'sshd.pid'}",
            f"AuthorizedKeysFile {d / 'authorized_keys'}",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "PermitRootLogin prohibit-password",
            "AllowAgentForwarding yes",
            "Subsystem sftp internal-sftp",
            # A session whose client has gone without a word (its network namespace deleted under it) ends
            # within ~30 s instead of living on.
            "ClientAliveInterval 10",
            "ClientAliveCountMax 3",
            # The sandbox hosts log in as this machine's root, whose ~/.bashrc belongs to the machine, not to the
            # host we emulate (here it starts pyenv, ~100 ms per SSH session). Debian's bash sources ~/.bashrc for
            # a command run by sshd only at shell level 1: a login that starts at level 1 skips it.
            f"SetEnv SHIELDOPS_SANDBOX_HOST={host.name} SHLVL=1",
            "",
        ]
    )


def _socket_path(host: LinuxHost, what: str) -> Path:
    """Unix sockets live under a short path: AF_UNIX paths are limited to 107 bytes, and a sandbox folder deep in a
    test's temporary directory can exceed that (supervisord then cannot start)."""
    digest = hashlib.sha256(str(host.directory).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"shieldops-{digest}-{what}.sock"


def _supervisor_config(host: LinuxHost) -> str:
    d = host.directory
    lines = [
        "[unix_http_server]",
        f"file={_socket_path(host, 'supervisor')}",
        "[supervisord]",
        f"logfile={d / 'supervisord.log'}",
        f"pidfile={d / 'supervisord.pid'}",
        "nodaemon=true",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{_socket_path(host, 'supervisor')}",
        "[include]",
        f"files = {d / 'conf.d'}/*.conf",
        "",
    ]
    return "\n".join(lines)


def _program(name: str, command: str, host: LinuxHost, *, autorestart: bool = True) -> str:
    d = host.directory
    return "\n".join(
        [
            f"[program:{name}]",
            f"command={command}",
            f"directory={d}",
            "autostart=true",
            f"autorestart={'true' if autorestart else 'false'}",
            "startsecs=1",
            "startretries=1",
            f"stdout_logfile={d / 'logs' / f'{name}.log'}",
            "redirect_stderr=true",
            "",
        ]
    )


# The body of each host's `shutdown` stand-in; SETTINGS (host folder, the covered original, where to record its
# calls, supervisorctl) precede it. It runs on the host, in the host's mount namespace, started by the reboot
# plugin's shell.
_STANDIN_BODY = r"""
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid

if os.path.basename(sys.argv[0]) != "shutdown":
    # The covered file is a multi-call program (systemctl on Debian, of which shutdown is one name): its other
    # names get the original.
    if SETTINGS["original"]:
        os.execv(SETTINGS["original"], sys.argv)
    sys.exit(f"{sys.argv[0]}: not available on this sandbox host")
with open(SETTINGS["calls"], "a") as calls:
    calls.write(json.dumps({"argv": sys.argv, "time": time.time()}) + "\n")
if "-r" not in sys.argv[1:]:
    sys.exit(0)
# The "reboot" is done before returning, not behind the caller as a real shutdown would: a child detached from the
# SSH session was, now and then, gone before it began (seen under a loaded full test run: the call recorded, no
# reboot.log, the boot id never changed and the reboot plugin waited out its timeout). The caller then sees the
# new boot id at its first look, which is all the reboot plugin asks.
log = os.open(os.path.join(SETTINGS["host_dir"], "reboot.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
os.dup2(log, 1)
os.dup2(log, 2)
# A host comes back from a reboot whether or not its programs start.
if SETTINGS["supervisor_config"]:
    with contextlib.suppress(subprocess.SubprocessError):
        restart = [SETTINGS["supervisorctl"], "-c", SETTINGS["supervisor_config"], "restart", "all"]
        subprocess.run(restart, timeout=120, check=False)
# Written in place, last: the host's boot id is a bind mount of this very file (a new file would not be seen),
# and a new boot id means the programs are back.
with open(os.path.join(SETTINGS["host_dir"], "boot_id"), "r+") as boot_id:
    boot_id.write(f"{uuid.uuid4()}\n")
    boot_id.truncate()
"""

# Run as `sh -c SCRIPT sh [HOSTNAME] SRC DST ... -- COMMAND...` inside the host's new namespaces: every step execs,
# so the pid stays the daemon's.
_MOUNTS_THEN_EXEC = 'while [ "$1" != -- ]; do mount --bind "$1" "$2" || exit 1; shift 2; done; shift; exec "$@"'


def _shutdown_cover() -> tuple[str, bool]:
    """What each host's mount namespace covers with its stand-in, and whether that is a directory.

    The reboot plugin runs the first `shutdown` its search paths hold. A bind mount follows symlinks, so the file
    covered is the one that resolves to (on Debian /sbin/shutdown -> systemctl, which then serves its other names
    through the original); on a machine without one, the last search directory is covered with a folder holding
    only the stand-in.
    """
    for folder in REBOOT_SEARCH_PATHS:
        found = Path(folder) / "shutdown"
        if found.exists():
            return os.path.realpath(found), False
    if not Path(REBOOT_SEARCH_PATHS[-1]).is_dir():
        raise LinuxSandboxError(f"no shutdown in {', '.join(REBOOT_SEARCH_PATHS)} and no {REBOOT_SEARCH_PATHS[-1]}")
    return REBOOT_SEARCH_PATHS[-1], True


def _host_mounts(host: LinuxHost, cover: str, cover_is_dir: bool) -> list[str]:
    """Write the host's stand-in; return the bind mounts (source, target, ...) that put it and its boot id in place."""
    d = host.directory
    venv_bin = Path(sys.executable).parent
    settings = {
        "host_dir": str(d),
        "original": None if cover_is_dir else str(d / "shutdown.orig"),
        "calls": str(d / SHUTDOWN_CALLS),
        "supervisorctl": str(venv_bin / "supervisorctl"),
        "supervisor_config": str(d / "supervisord.conf") if host.programs else None,
    }
    standin = d / "sbin" / "shutdown"
    standin.parent.mkdir(exist_ok=True)
    standin.write_text(f"#!{sys.executable} -I\nSETTINGS = {settings!r}\n{_STANDIN_BODY}")
    standin.chmod(0o755)
    (d / SHUTDOWN_CALLS).touch()
    mounts = [str(d / "boot_id"), BOOT_ID]
    if cover_is_dir:
        return [*mounts, str(standin.parent), cover]
    # The original first, to a file of the host's own, so that the stand-in can still reach it once covered.
    (d / "shutdown.orig").touch()
    return [*mounts, cover, str(d / "shutdown.orig"), str(standin), cover]


# The `linux` environment's samples: host web-2, program web of web-1. Its credential is the agent's socket, no
# secret: the one client key lives only in the agent.
SAMPLES: Samples = {
    "instance": "host/web-2",
    "service": "service/web-1/web",
    "missing": "service/web-1/nope",
    "dry_run_action": {"type": "restart", "resource_id": "host/web-2", "parameters": {}},
    "live_action": {"type": "restart", "resource_id": "service/web-1/web", "parameters": {}},
    "repeatable_action": {"type": "restart", "resource_id": "service/web-1/web", "parameters": {}},
    "secret_env": [],
    "secret_files": [],
}


# name, in a network namespace of its own, programs under supervisord
_HostLayout = tuple[str, bool, dict[str, str]]
_LAYOUT: list[_HostLayout] = [
    ("web-1", True, {"web": "healthy"}),
    ("web-2", True, {"worker": "unhealthy"}),
    ("local-1", False, {}),
]
# Each namespaced host takes a /30 of one 169.254.OCTET.0/24 block (index 0 and up): 64 fit.
_MAX_HOSTS = 64


class LinuxSandboxBackend:
    """The hosts of start_linux(), environment `linux`; its network namespaces and links are saved as the state
    file's "network" (as sandboxes have always kept them), for stop()."""

    name = "linux"
    sampled_environments = ("linux",)

    def __init__(self, hosts: int = len(_LAYOUT)) -> None:
        self.hosts = hosts

    def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
        sandbox = start_linux(directory, hosts=self.hosts)
        log(f"linux: {', '.join(f'{h.name} ({h.address}:{h.port})' for h in sandbox.hosts)}")
        return StartedBackend(
            processes={name: {"pid": pid} for name, pid in sandbox.pids.items()},
            environments={"linux": sandbox.environment()},
            resources={h.name: h.address for h in sandbox.hosts},
            state={"network": {"netns": sandbox.netns, "links": sandbox.links}},
            samples={"linux": SAMPLES},
        )

    def stop(self, state: Mapping[str, Any]) -> None:
        network = state.get("network") or {}
        stop_linux({}, network.get("netns", []), network.get("links", []))


def start_linux(directory: Path, *, hosts: int = len(_LAYOUT)) -> LinuxSandbox:
    """Start the hosts; return the sandbox (its pids, namespaces and links for stop_linux). Hosts beyond the three
    of the layout (the benchmark's many-host listing) are spare-NN: sshd only, each in a namespace of its own."""
    if not Path(SSHD).exists():
        raise LinuxSandboxError(f"{SSHD} is missing: apt-get install openssh-server (make setup does)")
    if not len(_LAYOUT) <= hosts <= _MAX_HOSTS:
        raise LinuxSandboxError(f"a Linux sandbox has {len(_LAYOUT)} to {_MAX_HOSTS} hosts, not {hosts}")
    base = directory / "linux"
    # A fresh start: keys, sockets and logs of an earlier sandbox in the same folder are discarded.
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    tag = f"{random.randrange(16**4):04x}"
    agent_socket = (
        Path(tempfile.gettempdir()) / f"shieldops-{hashlib.sha256(str(base).encode()).hexdigest()[:12]}-agent.sock"
    )
    sandbox = LinuxSandbox(base, [], agent_socket, base / "known_hosts", base / "inventory.yml")
    cover, cover_is_dir = _shutdown_cover()
    try:
        # The client key lives only in the agent: generate, add, delete the file.
        key = base / "agent_key"
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "shieldops-sandbox-agent", "-f", str(key))
        public_key = Path(f"{key}.pub").read_text()
        with contextlib.suppress(FileNotFoundError):
            sandbox.agent_socket.unlink()
        agent = ["ssh-agent", "-D", "-a", str(sandbox.agent_socket)]
        sandbox.pids["ssh-agent"] = spawn(agent, base / "ssh-agent.log").pid
        _wait_unix_socket(sandbox.agent_socket, 10)
        _run_with_env({"SSH_AUTH_SOCK": str(sandbox.agent_socket)}, "ssh-add", "-q", str(key))
        key.unlink()
        Path(f"{key}.pub").unlink()

        spares: list[_HostLayout] = [(f"spare-{n:02d}", True, {}) for n in range(len(_LAYOUT) + 1, hosts + 1)]
        for index, (name, namespaced, programs) in enumerate([*_LAYOUT, *spares]):
            host_dir = base / name
            (host_dir / "conf.d").mkdir(parents=True, exist_ok=True)
            (host_dir / "logs").mkdir(exist_ok=True)
            (host_dir / "etc").mkdir(exist_ok=True)
            if namespaced:
                netns = f"shieldops-{tag}-{index}"
                ns_ip = _make_namespace(netns, f"so{tag}{index}", index, sandbox)
                host = LinuxHost(name, ns_ip, 22, netns, host_dir, programs)
            else:
                host = LinuxHost(name, "127.0.0.1", free_port(), None, host_dir, programs)
            _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_dir / "ssh_host_ed25519_key"))
            (host_dir / "boot_id").write_text(f"sandbox-boot-{tag}-{index}\n")
            (host_dir / "authorized_keys").write_text(public_key)
            (host_dir / "sshd_config").write_text(_sshd_config(host, host.address))
            (host_dir / "supervisord.conf").write_text(_supervisor_config(host))
            for program in programs:
                if program == "web":
                    (host_dir / "etc" / "web.conf").write_text("# web settings\nport = 8080\nworkers = 2\n")
                    command = f"{sys.executable} -m http.server 8080 --bind 127.0.0.1"
                    (host_dir / "conf.d" / "web.conf").write_text(_program("web", command, host))
                else:
                    (host_dir / "etc" / "worker.conf").write_text("# worker settings\nqueue = jobs\n")
                    command = f"{sys.executable} -c \"import sys; sys.exit('worker: cannot reach queue')\""
                    (host_dir / "conf.d" / "worker.conf").write_text(_program("worker", command, host))
            sshd = [SSHD, "-D", "-e", "-f", str(host_dir / "sshd_config")]
            supervisord = [str(Path(sys.executable).parent / "supervisord"), "-c", str(host_dir / "supervisord.conf")]
            # A private mount namespace of the host's own (nothing mounted in it propagates back to this
            # machine's), holding its stand-in shutdown and boot id; the namespaced hosts also get their own
            # network and hostname.
            mounts = [*_host_mounts(host, cover, cover_is_dir), "--"]
            unshare = ["unshare", "--mount", "--propagation", "private"]
            if host.netns:
                script = f'hostname "$1" && shift && {_MOUNTS_THEN_EXEC}'
                prefix = ["ip", "netns", "exec", host.netns, *unshare, "--uts", "sh", "-c", script, "sh", name, *mounts]
            else:
                prefix = [*unshare, "sh", "-c", _MOUNTS_THEN_EXEC, "sh", *mounts]
            sandbox.pids[f"{name}/sshd"] = spawn(prefix + sshd, host_dir / "sshd.log").pid
            if programs:
                sandbox.pids[f"{name}/supervisord"] = spawn(prefix + supervisord, host_dir / "supervisord.out").pid
            sandbox.hosts.append(host)
        lines = []
        for host in sandbox.hosts:
            _wait_tcp(host.address, host.port, 15)
            key_line = (host.directory / "ssh_host_ed25519_key.pub").read_text().split()[:2]
            where = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
            lines.append(f"{where} {' '.join(key_line)}")
        sandbox.known_hosts.write_text("\n".join(lines) + "\n")
        for host in sandbox.hosts:
            if host.programs:
                _wait_programs_settled(host, 30)
        sandbox.inventory.write_text(_inventory(sandbox))
        return sandbox
    except BaseException:
        stop_linux(sandbox.pids, sandbox.netns, sandbox.links)
        raise


_NETWORK_LOCK = Path(tempfile.gettempdir()) / "shieldops-sandbox-network.lock"


def _make_namespace(netns: str, link: str, index: int, sandbox: LinuxSandbox) -> str:
    """A network namespace joined to this one by a veth pair on a /30 of 169.254.OCTET.0/24; returns its address.

    Sandboxes may start side by side (tests in parallel, a demo beside a test run): the octet is chosen among those
    no interface uses yet, under a file lock, and kept for the rest of this sandbox's hosts.
    """
    with open(_NETWORK_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if sandbox.octet is None:
            used = set(re.findall(r"169\.254\.(\d+)\.", _run("ip", "-o", "-4", "addr", "show")))
            free = [n for n in range(100, 250) if str(n) not in used]
            if not free:
                raise LinuxSandboxError("no free 169.254.x.0/24 block for the sandbox hosts")
            sandbox.octet = random.choice(free)
        octet = sandbox.octet
        outer, inner = f"{link}h", f"{link}n"
        host_ip, ns_ip = f"169.254.{octet}.{4 * index + 1}", f"169.254.{octet}.{4 * index + 2}"
        _run("ip", "netns", "add", netns)
        sandbox.netns.append(netns)
        _run("ip", "link", "add", outer, "type", "veth", "peer", "name", inner)
        sandbox.links.append(outer)
        _run("ip", "link", "set", inner, "netns", netns)
        _run("ip", "addr", "add", f"{host_ip}/30", "dev", outer)
        _run("ip", "link", "set", outer, "up")
        _run("ip", "netns", "exec", netns, "ip", "addr", "add", f"{ns_ip}/30", "dev", inner)
        _run("ip", "netns", "exec", netns, "ip", "link", "set", inner, "up")
        _run("ip", "netns", "exec", netns, "ip", "link", "set", "lo", "up")
    return ns_ip


def _run_with_env(extra: dict[str, str], *args: str) -> None:
    proc = subprocess.run(list(args), env={**os.environ, **extra}, capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise LinuxSandboxError(f"{' '.join(args)} failed: {proc.stderr.strip()[:300]}")


def _inventory(sandbox: LinuxSandbox) -> str:
    venv_bin = Path(sys.executable).parent
    hosts: dict[str, Any] = {}
    for host in sandbox.hosts:
        hv: dict[str, Any] = {
            "ansible_host": host.address,
            "ansible_port": host.port,
            "ansible_user": "root",
            "ansible_python_interpreter": "/usr/bin/python3",
        }
        if host.programs:
            hv |= {
                "shieldops_supervisor_config": str(host.directory / "supervisord.conf"),
                "shieldops_supervisorctl_path": str(venv_bin / "supervisorctl"),
                "shieldops_supervisord_log": str(host.directory / "supervisord.log"),
                "shieldops_service_files": {
                    p: [str(host.directory / "etc" / f"{p}.conf"), str(host.directory / "conf.d" / f"{p}.conf")]
                    for p in host.programs
                },
                "shieldops_host_files": [str(host.directory / "etc")],
            }
        hosts[host.name] = hv
    groups = {
        "web": {h.name: hosts[h.name] for h in sandbox.hosts if h.programs},
        "tools": {h.name: hosts[h.name] for h in sandbox.hosts if h.name == "local-1"},
        "spare": {h.name: hosts[h.name] for h in sandbox.hosts if h.name.startswith("spare-")},
    }
    doc = {"all": {"children": {group: {"hosts": members} for group, members in groups.items() if members}}}
    return "# Written by `shieldops-ansible sandbox up`: real sshd hosts on loopback and in network namespaces.\n" + (
        yaml.safe_dump(doc, sort_keys=False)
    )


def stop_linux(pids: dict[str, int], netns: list[str], links: list[str]) -> None:
    stop_process_groups(pids.values())
    # sshd's sessions (a persistent control connection's, among others) run in sessions of their own, outside the
    # process group of the sshd we started: end what still runs inside the namespaces we made, or it outlives them.
    for ns in netns:
        listed = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True, check=False, timeout=10)
        for left in listed.stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(left), signal.SIGKILL)
    for link in links:
        subprocess.run(["ip", "link", "del", link], capture_output=True, check=False, timeout=10)
    for ns in netns:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False, timeout=10)
