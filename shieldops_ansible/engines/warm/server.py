"""The warm engine's server: Ansible, the collections and the SDKs imported once; one forked child per request.

    python -m shieldops_ansible.engines.warm.server SOCKET_PATH

Protocol (a Unix socket, mode 0600 in a 0700 directory): the client sends one JSON line
``{"playbook", "request_yaml", "inventories", "check", "env"}``; the child answers with JSON lines: first
``{"event": "shieldops_started", "pid": N}``, then the run's events (the ``warm_events`` callback, shaped like
ansible-runner's), last ``{"event": "shieldops_finished", "rc": N}``.

Each request runs ``ansible-playbook``'s own CLI class in a child forked from this process, so each gets fresh
``context.CLIARGS``, loaders, inventory and variables, and whatever a run leaves behind dies with its child. The
server itself never parses CLI arguments, runs a play or starts a thread (forking with threads is unsafe).
``env`` (credentials included) only ever lives in the child's memory.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import gc
import importlib
import json
import os
import shutil
import signal
import socket
import stat
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

from ...paths import project_dir

__all__ = ["main"]

_CALLBACK = "shieldops.connectors.warm_events"


def _die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Linux: get ``sig`` when our parent goes away, so no server outlives its user and no request its server."""
    with contextlib.suppress(Exception):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, sig)  # PR_SET_PDEATHSIG


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
        "kubernetes.core.k8s",
        "kubernetes.core.k8s_info",
    ):
        with contextlib.suppress(Exception):
            plugin_loader.action_loader.get(name, class_only=True)
    for loader, names in (
        (plugin_loader.connection_loader, ("ansible.builtin.local", "ansible.builtin.ssh")),
        (plugin_loader.shell_loader, ("ansible.builtin.sh",)),
        (plugin_loader.strategy_loader, ("ansible.builtin.linear",)),
        (plugin_loader.callback_loader, (_CALLBACK,)),
        (plugin_loader.inventory_loader, ("ansible.builtin.yaml", "ansible.builtin.ini", "amazon.aws.aws_ec2")),
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
    for folder in ("playbooks", "roles"):
        for path in sorted((root / folder).rglob("*.yml")):
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


def _read_request(conn: socket.socket) -> dict[str, Any]:
    buffer = b""
    while not buffer.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            raise EOFError("the client closed the connection before sending a request")
        buffer += chunk
    request: dict[str, Any] = json.loads(buffer)
    return request


def _serve_request(conn: socket.socket) -> None:
    """In the forked child: run one playbook, stream its events, exit."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    # This request, and every process it forks (task workers, in-worker modules), dies with its parent: when the
    # server goes (its user killed), nothing of a half-done run keeps going.
    _die_with_parent(signal.SIGKILL)
    os.register_at_fork(after_in_child=lambda: _die_with_parent(signal.SIGKILL))
    request = _read_request(conn)
    _send(conn, {"event": "shieldops_started", "pid": os.getpid()})
    work = Path(tempfile.mkdtemp(prefix="shieldops-warm-run-"))
    rc = 250
    try:
        os.chmod(work, stat.S_IRWXU)
        request_file = work / "request.yml"
        request_file.write_text(request["request_yaml"])
        os.environ.update({str(k): str(v) for k, v in request["env"].items()})
        os.environ["SHIELDOPS_WARM_EVENT_FD"] = str(conn.fileno())
        argv = ["ansible-playbook"]
        for inventory in request["inventories"]:
            argv += ["-i", inventory]
        argv += ["-e", f"@{request_file}", request["playbook"]]
        if request.get("check"):
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


def _reap() -> None:
    with contextlib.suppress(ChildProcessError):
        while True:
            pid, _ = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                return


def main() -> None:
    socket_path = sys.argv[1]
    _die_with_parent()
    os.environ["ANSIBLE_STDOUT_CALLBACK"] = _CALLBACK
    os.environ.setdefault("ANSIBLE_DISPLAY_TRACEBACK", "error")
    from . import sdk_warmup

    sdk_warmup.warm_up()
    _warm_ansible()
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
    while True:
        try:
            conn, _ = server.accept()
        except TimeoutError:
            _reap()
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                server.close()
                conn.settimeout(None)
                _serve_request(conn)
            except BaseException:  # a child must never return into the accept loop
                code = 1
            finally:
                os._exit(code)
        conn.close()
        _reap()


if __name__ == "__main__":
    main()
