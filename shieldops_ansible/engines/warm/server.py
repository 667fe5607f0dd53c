"""The warm engine's server: Ansible, the collections and the SDKs imported once; one forked child per request.

    python -m shieldops_ansible.engines.warm.server SOCKET_PATH [--max-requests N] [--extra-playbooks DIR]...
        [--detached [--idle-timeout S]] [--local-tmp DIR]

Protocol (a Unix socket, mode 0600 in a 0700 directory), JSON lines. The client sends a header (at most 8 KiB,
no secret) ``{"config", "environment", "cwd"}`` and waits. The server answers either
``{"event": "shieldops_refused", "reason": ..., "busy": bool}`` (then it closes; nothing ran) or, from the child
forked for the connection, ``{"event": "shieldops_hello"}``. The client then sends the request (at most 1 MiB)
``{"operation", "playbook", "request_yaml", "inventories", "check", "env"}``; the child answers a refusal as
above, or ``{"event": "shieldops_started", "pid": N}``, the run's events (the ``warm_events`` callback, shaped
like ansible-runner's), last ``{"event": "shieldops_finished", "rc": N}``.

What a request may ask for is narrow, because the socket is a way into running Ansible as our user:
- only a peer of our own uid (``SO_PEERCRED``; the socket's mode already keeps others out);
- only the six operations' playbooks (the server maps the operation to ``playbooks/<op>.yml`` itself), or one in
  a folder given on this server's command line by whoever started it (tests), never a path a request chose;
- only the inventories the named environment of the named config file gives besides the controller's: this
  process loads that file itself (from the client's cwd, as the client did) and keeps the result while the file's
  stat is unchanged;
- only environment names that environment's provider declares (``Provider.run_env_names``), proxies and the
  engine's own switches; no ``LD_PRELOAD``, ``PYTHONPATH``, ``ANSIBLE_*`` of a request's choosing;
- at most ``--max-requests`` runs at once (default 16); more are refused as busy, and the engine waits for a slot.

Instead of a request header, a peer may send a control header: ``{"control": "ping"}`` is answered with
``{"event": "shieldops_pong", "pid", "served", "running", "started_at", "detached", "idle_timeout_s"}``, and
``{"control": "stop"}`` with ``{"event": "shieldops_stopping"}``, after which the server stops accepting, lets its
running requests finish (at most ``_STOP_GRACE_S``) and exits. Both pass the same peer check as a request.

A server exits when the process that started it does, unless it was started ``--detached`` (the per-user server of
:mod:`.user_server`, which CLI commands find); a detached server exits once it has been idle ``--idle-timeout``
seconds, and removes its socket when it goes.

Each request runs ``ansible-playbook``'s own CLI class in a child forked from this process, so each gets fresh
``context.CLIARGS``, loaders, inventory and variables, and whatever a run leaves behind dies with its child. The
server itself never parses CLI arguments, runs a play or starts a thread (forking with threads is unsafe).
A request (``env``, credentials included) is read, checked and used only in its child: it never lives in this
long-lived process's memory. Only the header is read here (loading a config file in a freshly forked child took
~7 ms, measured; a cached scope costs one stat()). A local client of our own uid that connects and sends no header
holds the accept loop for at most 2 s.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import functools
import gc
import importlib
import json
import os
import select
import shutil
import signal
import socket
import stat
import struct
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from ...paths import playbook_path, project_dir, role_path
from ..environment import CONNECTION_NAMES, ENGINE_TOGGLES, provider_env_names

__all__ = [
    "MAX_HEADER_BYTES",
    "MAX_REQUEST_BYTES",
    "OPERATIONS",
    "Refused",
    "Scope",
    "ScopeCache",
    "ServerOptions",
    "check_request",
    "main",
    "peer_allowed",
]

_CALLBACK = "shieldops.connectors.warm_events"
OPERATIONS = frozenset({"get_health", "list_resources", "execute_action", "get_events", "create_snapshot", "rollback"})
MAX_REQUEST_BYTES = 1 << 20
MAX_HEADER_BYTES = 8 << 10
# The accept loop reads each connection's header itself: a client has this long to send it.
_HEADER_TIMEOUT_S = 2.0
# A client that connects and sends nothing must not hold one of the slots for ever.
_REQUEST_READ_TIMEOUT_S = 30.0
# How long a stopping server lets its running requests finish before it exits (their PDEATHSIG then ends them).
_STOP_GRACE_S = 60.0
DEFAULT_IDLE_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class ServerOptions:
    """What the server's owner decided when starting it (its command line), never a request."""

    extra_playbooks: tuple[Path, ...] = ()
    max_requests: int = 16
    detached: bool = False
    idle_timeout_s: float = DEFAULT_IDLE_TIMEOUT_S
    # A private folder the server owns: its runs' ANSIBLE_LOCAL_TEMP (module payloads, Ansible's per-process
    # folders), removed when it stops, so that what a killed request leaves there never outlives the server.
    local_tmp: Path | None = None


class Refused(Exception):
    """A request the server will not run; the message is what the client is told (no request data)."""

    def __init__(self, reason: str, *, busy: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.busy = busy


@dataclass(frozen=True)
class _Run:
    playbook: str
    inventories: list[str]
    env: dict[str, str]
    request_yaml: str
    check: bool


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Linux: get ``sig`` when our parent goes away, so no server outlives its user and no request its server."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, sig)  # PR_SET_PDEATHSIG


def _parent_exit_fd(parent: int) -> int | None:
    """A descriptor that turns readable when ``parent`` exits, or None where the kernel has no pidfds."""
    try:
        return os.pidfd_open(parent)
    except (AttributeError, OSError):
        return None


def _warm_ansible() -> None:
    """Import and load, in this process, what every request would otherwise load again."""
    from ansible import constants
    from ansible.plugins import loader as plugin_loader

    plugin_loader.init_plugin_loader()
    # The strategy sleeps this long between looks at the results queue, once per task at least (1 ms by default:
    # ~13 ms of a Kubernetes get_health). Tasks here take milliseconds, so it looks more often.
    constants.DEFAULT_INTERNAL_POLL_INTERVAL = 0.0001
    for name in (
        "ansible.cli.playbook",
        "ansible.executor.playbook_executor",
        "ansible.executor.task_queue_manager",
        "ansible.executor.task_executor",
        "ansible.executor.process.worker",
        "ansible.plugins.strategy.linear",
        "ansible.inventory.manager",
        "ansible.vars.manager",
        "ansible.parsing.dataloader",
        "ansible.template",
        # The JSON profiles a module's exit_json and the executor's result decoding pick by name at every call.
        "ansible.module_utils._internal._json._profiles._module_legacy_m2c",
        "ansible.module_utils._internal._json._profiles._module_legacy_c2m",
        "ansible.module_utils._internal._json._profiles._module_modern_m2c",
        "ansible.module_utils._internal._json._profiles._module_modern_c2m",
        "ansible.module_utils._internal._json._profiles._tagless",
        "ansible.module_utils._internal._json._profiles._fallback_to_str",
        "ansible._internal._json._profiles._legacy",
        "ansible._internal._json._profiles._inventory_legacy",
        "ansible._internal._json._profiles._cache_persistence",
    ):
        importlib.import_module(name)
    for name in (
        "ansible.builtin.set_fact",
        "ansible.builtin.set_stats",
        "ansible.builtin.include_tasks",
        "ansible.builtin.include_role",
        "ansible.builtin.fail",
        "ansible.builtin.assert",
        "ansible.builtin.copy",
        "ansible.builtin.command",
        "ansible.builtin.normal",
        "ansible.builtin.validate_argument_spec",
        *_provider_plugins("action"),
    ):
        with contextlib.suppress(Exception):
            plugin_loader.action_loader.get(name, class_only=True)
    for loader, names in (
        (plugin_loader.connection_loader, ("ansible.builtin.local", "ansible.builtin.ssh")),
        (plugin_loader.shell_loader, ("ansible.builtin.sh",)),
        (plugin_loader.strategy_loader, ("ansible.builtin.linear",)),
        (plugin_loader.callback_loader, (_CALLBACK,)),
        (
            plugin_loader.inventory_loader,
            # ansible.cfg's enable_plugins (each looked at for every source), and what providers' inventories use.
            (*constants.INVENTORY_ENABLED, *_provider_plugins("inventory")),
        ),
    ):
        for name in names:
            with contextlib.suppress(Exception):
                loader.get(name, class_only=True)
    with contextlib.suppress(Exception):
        list(plugin_loader.filter_loader.all(class_only=True))
        list(plugin_loader.test_loader.all(class_only=True))
    # What PlaybookExecutor and TaskQueueManager list at every run: loaded here, their config definitions
    # (parsed from each plugin's DOCUMENTATION) are already registered in every child.
    for loader in (
        plugin_loader.connection_loader,
        plugin_loader.shell_loader,
        plugin_loader.become_loader,
        plugin_loader.callback_loader,
        plugin_loader.vars_loader,
    ):
        with contextlib.suppress(Exception):
            list(loader.all(class_only=True))
    parsed = _share_parsed_yaml()
    from . import in_worker, inline_tasks, local_tmp, template_cache

    # Compiling the templates also loads, here, the filter and test plugins they name.
    template_cache.install()
    template_cache.prime(parsed.values())
    _read_vocabularies()

    for fqcn in sorted(in_worker.ALLOWED_MODULES):
        # Importing a module's file runs its imports (module_utils, the SDK) but not main().
        found = plugin_loader.module_loader.find_plugin_with_context(fqcn)
        namespace, collection, module = fqcn.split(".")
        target = (
            f"ansible.modules.{module}"
            if namespace == "ansible"
            else f"ansible_collections.{namespace}.{collection}.plugins.modules.{module}"
        )
        if found.resolved:
            with contextlib.suppress(Exception):
                importlib.import_module(target)
    in_worker.install()
    inline_tasks.install()
    local_tmp.install()


def _read_vocabularies() -> None:
    """The operation role's dispatch reads each provider's vocabulary (resolve_target): read here, once."""
    from ...providers import PROVIDER_TYPES

    core = importlib.import_module("ansible_collections.shieldops.connectors.plugins.filter.core")
    for provider in PROVIDER_TYPES.values():
        with contextlib.suppress(Exception):
            core.role_vocabulary(provider.role())


def _provider_plugins(kind: str) -> tuple[str, ...]:
    """The plugins of ``kind`` the providers ask the server to load once (Provider.warm_plugins)."""
    from ...providers import PROVIDER_TYPES

    return tuple(name for p in PROVIDER_TYPES.values() for name in p.warm_plugins.get(kind, ()))


def _share_parsed_yaml() -> dict[str, Any]:
    """Parse the playbooks and roles once: every DataLoader (one per request) starts from this cache.
    DataLoader hands out deep copies of cached data, so requests cannot change it for each other. Edits to these
    files reach the warm engine when its server restarts."""
    from ansible.parsing.dataloader import DataLoader

    shared: dict[str, Any] = {}
    original_init = DataLoader.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._FILE_CACHE = dict(shared)

    primer = DataLoader()
    root = project_dir()
    # Loaded as Ansible loads playbook and role files: trusted as templates (our own content, never a request).
    from ...providers import PROVIDER_TYPES

    folders = {root / "playbooks", role_path("shieldops.connectors.operation")}
    folders.update(role_path(provider.role()) for provider in PROVIDER_TYPES.values())
    for folder in sorted(folders):
        for path in sorted(folder.rglob("*.yml")):
            with contextlib.suppress(Exception):
                primer.load_from_file(str(path), trusted_as_template=True)
    shared.update(primer._FILE_CACHE)
    DataLoader.__init__ = __init__
    original_load = DataLoader.load_from_file

    def load_from_file(self: Any, file_name: str, cache: str = "all", unsafe: bool = False, **kwargs: Any) -> Any:
        data = original_load(self, file_name, cache=cache, unsafe=True, **kwargs)
        return data if unsafe else _copy_containers(data)

    DataLoader.load_from_file = load_from_file
    return shared


def _copy_containers(data: Any) -> Any:
    """What DataLoader's ``copy.deepcopy`` of cached data guarantees (no caller can change what the next one
    loads), at a twentieth of the cost: every dict and list is copied, with its tags; the leaves (tagged strings,
    numbers, booleans) are immutable and shared. A deep copy of the Kubernetes role's argument specs took 18.7 ms
    here, this copy 0.8 ms."""
    if isinstance(data, dict):
        copied = copy.copy(data)
        for key, value in data.items():
            if isinstance(value, dict | list):
                copied[key] = _copy_containers(value)
        return copied
    if isinstance(data, list):
        copied_list = copy.copy(data)
        for index, value in enumerate(data):
            if isinstance(value, dict | list):
                copied_list[index] = _copy_containers(value)
        return copied_list
    return data


def _send(conn: socket.socket, event: dict[str, Any]) -> None:
    conn.sendall(json.dumps(event, default=str).encode() + b"\n")


def _read_line(conn: socket.socket, limit: int, what: str) -> Any:
    """One JSON line of at most ``limit`` bytes, decoded; refused as soon as it grows beyond. (A client sends
    nothing after a line before the server's next answer, so nothing past the newline is taken from anyone.)"""
    buffer = bytearray()
    while True:
        chunk = conn.recv(65536)
        if not chunk:
            raise Refused(f"the client closed the connection before sending a whole {what}")
        end = chunk.find(b"\n")
        buffer += chunk if end < 0 else chunk[:end]
        if len(buffer) > limit:
            raise Refused(f"the {what} is larger than {limit} bytes")
        if end >= 0:
            break
    try:
        return json.loads(buffer)
    except ValueError:
        raise Refused(f"the {what} is not JSON") from None


def peer_allowed(conn: socket.socket, owner_uid: int) -> bool:
    """Whether the process at the other end of ``conn`` runs as ``owner_uid`` (the kernel's word: SO_PEERCRED)."""
    try:
        raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return False
    _pid, uid, _gid = struct.unpack("3i", raw)
    return bool(uid == owner_uid)


def _plain_strings(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and "\0" not in value


@dataclass(frozen=True)
class Scope:
    """What runs for one environment may have: derived by the server from the config file, never from a request."""

    inventories: tuple[str, ...]
    env_names: frozenset[str]


class ScopeCache:
    """Scopes by (config file, environment, client's cwd), each kept while the file's stat is unchanged: a request
    costs one stat() instead of a load_config (~7 ms in a freshly forked child, measured)."""

    def __init__(self, limit: int = 64) -> None:
        self._limit = limit
        self._entries: dict[tuple[str, str, str], tuple[tuple[int, int, int, int], Scope]] = {}
        # A run for no environment (a test's or a tool's playbook): the controller's inventory only, and whatever
        # names some provider's runs may receive.
        self._no_environment = Scope((_controller_inventory(),), _REQUEST_ENV_NAMES | provider_env_names())

    def scope(self, header: Any) -> Scope:
        """The scope a request header asks for; Refused if it names none the server can derive."""
        if not isinstance(header, dict):
            raise Refused("the request header is not a JSON object")
        config, environment, cwd = header.get("config"), header.get("environment"), header.get("cwd")
        if config is None and environment is None:
            return self._no_environment
        if not (_plain_strings(config) and _plain_strings(environment) and os.path.isabs(config)):
            raise Refused("config (an absolute path) and environment go together")
        where = cwd if _plain_strings(cwd) and os.path.isabs(cwd) else "/"
        try:
            info = os.stat(config)
        except OSError:
            raise Refused("the config file or its environment cannot be loaded") from None
        signature = (info.st_mtime_ns, info.st_size, info.st_ino, info.st_dev)
        key = (config, environment, where)
        cached = self._entries.get(key)
        if cached is not None and cached[0] == signature:
            return cached[1]
        inventories, provider_names = _environment(config, environment, where)
        scope = Scope((_controller_inventory(), *inventories), _REQUEST_ENV_NAMES | provider_names)
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[key] = (signature, scope)
        return scope


def _controller_inventory() -> str:
    return str(project_dir() / "inventories" / "localhost" / "hosts.yml")


def check_request(request: Any, options: ServerOptions, scope: Scope) -> _Run:
    """What the request may run within ``scope``; Refused if it asks for anything else."""
    if not isinstance(request, dict):
        raise Refused("the request is not a JSON object")
    operation, playbook = request.get("operation"), request.get("playbook")
    if playbook is None:
        if not isinstance(operation, str) or operation not in OPERATIONS:
            raise Refused(f"unknown operation; this server runs: {', '.join(sorted(OPERATIONS))}")
        playbook_file = str(playbook_path(operation))
    else:
        resolved = Path(os.path.realpath(playbook)) if _plain_strings(playbook) else None
        if (
            resolved is None
            or resolved.suffix not in {".yml", ".yaml"}
            or not any(resolved.is_relative_to(folder) for folder in options.extra_playbooks)
            or not resolved.is_file()
        ):
            raise Refused("the playbook is neither an operation's nor in a folder this server was started with")
        playbook_file = str(resolved)
    if request.get("inventories") != list(scope.inventories):
        raise Refused("the inventories are not those the environment names")
    env = request.get("env")
    if not isinstance(env, dict) or not all(_plain_strings(k) and _plain_strings(v) for k, v in env.items()):
        raise Refused("env must map names to strings")
    unknown = sorted(name for name in env if name not in scope.env_names)
    if unknown:
        from ...errors import quote_untrusted

        shown = ", ".join(quote_untrusted(name) for name in unknown[:5])
        raise Refused(f"environment variables this run may not have: {shown}")
    if not isinstance(request.get("request_yaml"), str) or not isinstance(request.get("check"), bool):
        raise Refused("request_yaml must be a string and check a boolean")
    return _Run(playbook_file, list(scope.inventories), dict(env), request["request_yaml"], request["check"])


def _environment(config: str, environment: str, cwd: str) -> tuple[list[str], frozenset[str]]:
    """The inventories and environment names of ``environment`` in the config file ``config``."""
    from ...config import load_config

    here = os.getcwd()
    try:
        # Relative paths inside the file are relative to where the client loaded it.
        os.chdir(cwd)
        loaded = load_config(config).environment(environment)
    except Exception:  # a missing, unreadable or invalid file or environment: nothing to run for
        raise Refused("the config file or its environment cannot be loaded") from None
    finally:
        os.chdir(here)
    return list(loaded.settings.inventory_sources()), loaded.provider.run_env_names


# Names any request may carry besides its provider's: proxies and the engine's own switches.
_REQUEST_ENV_NAMES = CONNECTION_NAMES | ENGINE_TOGGLES


def _refuse(conn: socket.socket, refusal: Refused, *, linger_s: float) -> None:
    """Tell the client why, then take what it still sends (up to ``linger_s``) so that it can read the answer
    instead of finding its connection reset."""
    with contextlib.suppress(OSError):
        conn.settimeout(1.0)
        _send(conn, {"event": "shieldops_refused", "reason": refusal.reason, "busy": refusal.busy})
        conn.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger_s
        conn.settimeout(linger_s)
        while linger_s > 0 and time.monotonic() < deadline and conn.recv(1 << 16):
            pass
        if linger_s == 0:
            conn.setblocking(False)
            while conn.recv(1 << 16):  # what is queued already; never waits
                pass


def _serve_request(conn: socket.socket, options: ServerOptions, scope: Scope) -> None:
    """In the forked child: check the request, run one playbook, stream its events, exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # This request, and every process it forks (task workers, in-worker modules), dies with its parent: when the
    # server goes (its user killed), nothing of a half-done run keeps going.
    _die_with_parent(signal.SIGKILL)
    os.register_at_fork(after_in_child=lambda: _die_with_parent(signal.SIGKILL))
    try:
        conn.settimeout(_REQUEST_READ_TIMEOUT_S)
        _send(conn, {"event": "shieldops_hello"})
        try:
            decoded = _read_line(conn, MAX_REQUEST_BYTES, "request")
        except TimeoutError:
            raise Refused("no whole request within the time allowed") from None
        run = check_request(decoded, options, scope)
    except Refused as refusal:
        _refuse(conn, refusal, linger_s=5.0)
        return
    conn.settimeout(None)
    _send(conn, {"event": "shieldops_started", "pid": os.getpid()})
    work = Path(tempfile.mkdtemp(prefix="shieldops-warm-run-"))
    rc = 250
    try:
        os.chmod(work, stat.S_IRWXU)
        request_file = work / "request.yml"
        request_file.write_text(run.request_yaml)
        os.environ.update(run.env)
        os.environ["SHIELDOPS_WARM_EVENT_FD"] = str(conn.fileno())
        argv = ["ansible-playbook"]
        for inventory in run.inventories:
            argv += ["-i", inventory]
        argv += ["-e", f"@{request_file}", run.playbook]
        if run.check:
            argv += ["--check", "--diff"]
        from ansible.cli.playbook import PlaybookCLI

        warnings.simplefilter("ignore")
        try:
            rc = int(PlaybookCLI(argv).run() or 0)
        except SystemExit as exit_:
            rc = exit_.code if isinstance(exit_.code, int) else 1
        except Exception as exc:  # the client gets the reason as a failure event
            message = str(exc)[:2000]
            _send(conn, {"event": "runner_on_failed", "event_data": {"task": "", "res": {"msg": message}}})
            rc = 250
    finally:
        shutil.rmtree(work, ignore_errors=True)
        with contextlib.suppress(OSError):
            _send(conn, {"event": "shieldops_finished", "rc": rc})


# How long a request at capacity waits for a finished child to exit before it is refused as busy.
_FINISHING_S = 1.0


def _reap_within(children: set[int], limit: int, seconds: float) -> None:
    """Reap until fewer than ``limit`` children remain, or ``seconds`` pass: a child sends its last event before it
    exits, and with a large heap its exit takes a while, so a client whose request has finished may connect again
    while that child is still counted."""
    deadline = time.monotonic() + seconds
    _reap(children)
    while len(children) >= limit and time.monotonic() < deadline:
        time.sleep(0.01)
        _reap(children)


def _reap(children: set[int], *others: set[int]) -> None:
    groups = (children, *others)
    try:
        while any(groups):
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return
            for group in groups:
                group.discard(pid)
    except ChildProcessError:
        for group in groups:
            group.clear()


def _fork_child(serve: Callable[[], None], server: socket.socket, parent_exit: int | None) -> int:
    """Fork a child that lets go of the listening socket (and the parent watch), runs ``serve`` and exits: a child
    never returns into the accept loop. Its pid, in the parent."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            server.close()
            if parent_exit is not None:
                os.close(parent_exit)
            serve()
        except BaseException:
            code = 1
        finally:
            os._exit(code)
    return pid


def _relay_command(
    conn: socket.socket, server: socket.socket, socket_path: str, options: ServerOptions, relayed: set[int]
) -> None:
    """A CLI command relayed by the per-user server's client (see cli_relay.py): in a child of its own, apart from
    the requests' cap (its requests take slots of their own). Only a detached server runs them."""
    if not options.detached:
        raise Refused("this server runs no commands")
    if len(relayed) >= options.max_requests:
        raise Refused(f"busy: {options.max_requests} commands are running", busy=True)

    def serve() -> None:
        _die_with_parent(signal.SIGKILL)
        conn.settimeout(_REQUEST_READ_TIMEOUT_S)
        from .cli_relay import serve_relayed_command

        serve_relayed_command(conn, socket_path, lambda c: _read_line(c, MAX_REQUEST_BYTES, "command"))

    relayed.add(_fork_child(serve, server, None))
    conn.close()


def _options(argv: list[str]) -> tuple[str, ServerOptions]:
    import argparse

    parser = argparse.ArgumentParser(prog="shieldops_ansible.engines.warm.server")
    parser.add_argument("socket_path")
    parser.add_argument("--max-requests", type=int, default=ServerOptions.max_requests)
    parser.add_argument("--extra-playbooks", action="append", default=[])
    parser.add_argument("--detached", action="store_true")
    parser.add_argument("--idle-timeout", type=float, default=DEFAULT_IDLE_TIMEOUT_S)
    parser.add_argument("--local-tmp")
    args = parser.parse_args(argv)
    folders = tuple(Path(os.path.realpath(folder)) for folder in args.extra_playbooks)
    return args.socket_path, ServerOptions(
        extra_playbooks=folders,
        max_requests=max(1, args.max_requests),
        detached=args.detached,
        idle_timeout_s=max(1.0, args.idle_timeout),
        local_tmp=Path(args.local_tmp) if args.local_tmp else None,
    )


def _control(conn: socket.socket, header: Any, state: dict[str, Any], options: ServerOptions) -> bool:
    """Answer a control header (see the module's docstring); True when the server is to stop."""
    command = header.get("control")
    if command == "ping":
        _send(
            conn,
            {
                "event": "shieldops_pong",
                "pid": os.getpid(),
                "served": state["served"],
                "requests_running": state["running"],
                "started_at": state["started_at"],
                "detached": options.detached,
                "idle_timeout_s": options.idle_timeout_s if options.detached else None,
            },
        )
        return False
    if command == "stop":
        _send(conn, {"event": "shieldops_stopping"})
        return True
    raise Refused("unknown control command")


def _stop(server: socket.socket, socket_path: str, children: set[int], options: ServerOptions) -> None:
    """Stop accepting, remove the socket, let running requests finish (bounded), remove the local temp, exit."""
    server.close()
    with contextlib.suppress(OSError):
        os.unlink(socket_path)
    deadline = time.monotonic() + _STOP_GRACE_S
    while children and time.monotonic() < deadline:
        time.sleep(0.05)
        _reap(children)
    if options.local_tmp is not None:
        shutil.rmtree(options.local_tmp, ignore_errors=True)
    os._exit(0)


def main() -> None:
    socket_path, options = _options(sys.argv[1:])
    owner = os.getuid()
    # Not PR_SET_PDEATHSIG here: it fires when the *thread* that started us exits, and the engine starts its server
    # from a worker thread (asyncio.to_thread) that ends with its event loop, so each asyncio.run() of a process
    # used to take the server down mid-request. The accept loop watches the parent process instead: its pidfd
    # turns readable the moment it exits (the 1 s look at getppid() is the fallback where pidfds are missing).
    parent = os.getppid()
    parent_exit = None if options.detached else _parent_exit_fd(parent)
    if options.local_tmp is not None:
        os.environ["ANSIBLE_LOCAL_TEMP"] = str(options.local_tmp)  # before Ansible's constants are read
    os.environ["ANSIBLE_STDOUT_CALLBACK"] = _CALLBACK
    os.environ.setdefault("ANSIBLE_DISPLAY_TRACEBACK", "error")
    from . import sdk_warmup

    sdk_warmup.warm_up()
    _warm_ansible()
    # What a child needs to check its request, imported here once (~0.2 s otherwise, in every request).
    from ... import config as _config  # noqa: F401

    if options.detached:
        # What a relayed CLI command's child runs (the facade and the CLI), likewise.
        from ... import cli as _cli  # noqa: F401
        from ... import connector as _connector  # noqa: F401

    provider_env_names()
    # Every fork (a request, its task workers, in-worker modules) first moves the objects that exist into the
    # permanent generation: a collector pass in the child would otherwise touch, and so copy, the whole heap.
    gc.collect()
    gc.freeze()
    os.register_at_fork(before=gc.freeze)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(socket_path)
    os.chmod(socket_path, stat.S_IRUSR | stat.S_IWUSR)
    server.listen(64)
    server.settimeout(1.0)
    print("ready", flush=True)
    # Nothing reads our stdout after this line: a request's stray output must never block on a full pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    children: set[int] = set()
    relayed: set[int] = set()  # children running a relayed CLI command (each makes requests of its own)
    scopes = ScopeCache()
    state: dict[str, Any] = {"served": 0, "running": 0, "started_at": time.time()}
    last_active = time.monotonic()
    watched = [server.fileno()] if parent_exit is None else [server.fileno(), parent_exit]
    while True:
        ready, _, _ = select.select(watched, [], [], 1.0)
        if not options.detached and (parent_exit in ready or os.getppid() != parent):
            os._exit(0)  # our user is gone: so are we, and our requests with us (their PDEATHSIG)
        if children or relayed:
            last_active = time.monotonic()
        if server.fileno() not in ready:
            _reap(children, relayed)
            if options.detached and not children and time.monotonic() - last_active > options.idle_timeout_s:
                _stop(server, socket_path, children, options)
            continue
        try:
            conn, _ = server.accept()
        except (TimeoutError, BlockingIOError):  # the client gave up between select and accept
            _reap(children)
            continue
        _reap(children)
        # Checked before a fork: refusing costs this process microseconds and never a child. The header (config
        # file, environment, cwd: no secret) is read here, so that its scope is cached across requests; the
        # request itself, credentials included, only ever reaches the child. Once the header is read the client
        # sends nothing more until it is answered, so a refusal never finds unread data (which would reset the
        # connection before the client reads why).
        try:
            conn.settimeout(_HEADER_TIMEOUT_S)
            try:
                header = _read_line(conn, MAX_HEADER_BYTES, "request header")
            except OSError:  # a timeout included
                raise Refused("no request header within the time allowed") from None
            if not peer_allowed(conn, owner):
                raise Refused("this server serves only its owner's processes")
            if isinstance(header, dict) and "control" in header:
                state["running"] = len(children)
                stopping = _control(conn, header, state, options)
                conn.close()
                if stopping:
                    _stop(server, socket_path, children | relayed, options)
                continue
            if isinstance(header, dict) and header.get("cli") is True:
                _relay_command(conn, server, socket_path, options, relayed)
                state["served"] += 1
                last_active = time.monotonic()
                continue
            _reap_within(children, options.max_requests, _FINISHING_S)
            if len(children) >= options.max_requests:
                raise Refused(f"busy: {options.max_requests} requests are running", busy=True)
            scope = scopes.scope(header)
        except Refused as refusal:
            _refuse(conn, refusal, linger_s=0)
            conn.close()
            continue
        children.add(_fork_child(functools.partial(_serve_request, conn, options, scope), server, parent_exit))
        state["served"] += 1
        last_active = time.monotonic()
        conn.close()


if __name__ == "__main__":
    main()
