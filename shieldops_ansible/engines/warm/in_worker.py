"""Run allow-listed modules inside the forked task worker instead of a fresh interpreter.

A module normally starts as a new Python process that imports ansible.module_utils, the collection's module_utils
and its SDK (boto3, kubernetes): ~300 ms before the first API call. The warm server has imported all of that once;
here the AnsiballZ payload Ansible built for the task runs in a child forked from the task worker, so those
imports are already in ``sys.modules``. The payload, its arguments (with the internal ``_ansible_*`` keys) and the
result parsing are Ansible's own; only the process that runs the payload differs. The child dies after one module,
so nothing a module leaves behind reaches the next one.

Only pure-API modules on the local connection qualify (no become, no async, no remote host). Everything else, and
anything this hook cannot handle, takes Ansible's normal path. This uses private ansible-core API
(``ActionBase._execute_module`` and its helpers): the ansible-core range is pinned, and a test compares in-worker
and normal results for every allow-listed module.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
import os
import selectors
import sys
import time
from collections.abc import Callable
from typing import Any

from ...providers import PROVIDER_TYPES

__all__ = ["ALLOWED_MODULES", "in_worker_enabled", "install"]

# The modules each provider declares safe here (Provider.worker_modules), and the controller-side file modules
# our own action plugins call.
_CONTROLLER_FILE_MODULES = frozenset({"ansible.builtin.copy", "ansible.builtin.file", "ansible.builtin.stat"})
ALLOWED_MODULES = _CONTROLLER_FILE_MODULES.union(*(p.worker_modules for p in PROVIDER_TYPES.values()))
_DISABLE_ENV = "SHIELDOPS_WARM_IN_WORKER"  # "0" turns the hook off (the parity tests compare both ways)


def in_worker_enabled() -> bool:
    return os.environ.get(_DISABLE_ENV, "1") != "0"


def _eligible(action: Any, module_name: str, wrap_async: bool) -> bool:
    if wrap_async or action._task.async_val or action._play_context.become or not in_worker_enabled():
        return False
    if getattr(action._connection, "transport", None) != "local":
        return False
    found = action._shared_loader_obj.module_loader.find_plugin_with_context(
        module_name, collection_list=action._task.collections
    )
    return bool(found.resolved) and found.resolved_fqcn in ALLOWED_MODULES


def _become_module_process() -> None:
    """Undo what importing Ansible's controller did to module_utils: on the controller, warnings and deprecations
    are displayed instead of returned with the result, and tracebacks follow the controller's settings."""
    from ansible.module_utils import _internal
    from ansible.module_utils._internal import _traceback

    _internal.is_controller = False
    _internal.import_controller_module = lambda _name: None
    _internal.get_controller_serialize_map = dict
    _traceback._is_traceback_enabled = _traceback._is_module_traceback_enabled


_CALL = b'\nif __name__ == "__main__":\n    _ansiballz_main(\n'


def _payload_call(payload: bytes) -> dict[str, Any] | None:
    """The arguments Ansible baked into the AnsiballZ wrapper's final call (the module, its serialization profile
    and its parameters), or None when the payload is not the plain shape this engine knows."""
    _, found, tail = payload.rpartition(_CALL)
    if not found:
        return None
    call: dict[str, Any] = {}
    for line in tail.decode("utf-8", "replace").splitlines():
        key, sep, value = line.partition("=")
        if sep and key in ("module_fqn", "profile", "params", "extensions"):
            call[key] = ast.literal_eval(value.rstrip(","))
    if set(call) != {"module_fqn", "profile", "params", "extensions"} or call["extensions"]:
        return None  # a debugger or coverage extension: let the wrapper set it up
    return call


def _run_module(payload: bytes, path: str) -> None:
    """In the module child: run the module as the wrapper would, minus unpacking the zip of code this process
    already has imported (the modules and module_utils are the same files)."""
    call = _payload_call(payload)
    if call is None:
        exec(compile(payload, path, "exec"), {"__name__": "__main__", "__file__": path})
        return
    from ansible.module_utils._internal._ansiballz import _loader

    _loader.run_module(
        json_params=call["params"].encode(),
        profile=call["profile"],
        module_fqn=call["module_fqn"],
        modlib_path=path,
        extensions={},
    )


def _run_payload(payload: bytes, path: str, env: dict[str, str]) -> dict[str, Any]:
    """Run an AnsiballZ payload in a forked child; return what Ansible's connection would: rc, stdout, stderr."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: becomes the module process
        code = 1
        try:
            os.close(out_r)
            os.close(err_r)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(out_w, 1)
            os.dup2(err_w, 2)
            # The task worker's sys.stdout may not be fd 1 (workers redirect their own output): point the
            # Python streams at the pipes, as a fresh interpreter's would be.
            sys.stdin = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
            sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8")
            sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8")
            os.environ.update(env)
            _become_module_process()
            sys.argv = [path]  # the AnsiballZ wrapper reads a second argument as a debug command
            code = 0
            _run_module(payload, path)
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException as exc:  # reported to Ansible as the module's failure
            print(f'{{"failed": true, "msg": "in-worker module execution failed: {type(exc).__name__}"}}')
            code = 1
        finally:
            try:
                sys.stdout.flush()
                sys.stderr.flush()
            finally:
                os._exit(code)
    os.close(out_w)
    os.close(err_w)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    with selectors.DefaultSelector() as sel:
        sel.register(out_r, selectors.EVENT_READ)
        sel.register(err_r, selectors.EVENT_READ)
        open_fds = 2
        while open_fds:
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
                    open_fds -= 1
    os.close(out_r)
    os.close(err_r)
    _, status = os.waitpid(pid, 0)
    return {
        "rc": os.waitstatus_to_exitcode(status),
        "stdout": b"".join(chunks[out_r]).decode("utf-8", "replace"),
        "stderr": b"".join(chunks[err_r]).decode("utf-8", "replace"),
    }


def _report(module: str, **timings: float) -> None:
    """Tell the client, on the run's event stream, that a module ran in the worker (one short line: a single
    write, which the kernel does not interleave with the controller's)."""
    fd = os.environ.get("SHIELDOPS_WARM_EVENT_FD")
    if fd:
        data = {"module": module, **{k: round(v, 1) for k, v in timings.items()}}
        line = json.dumps({"event": "shieldops_in_worker", "event_data": data}) + "\n"
        with contextlib.suppress(OSError):
            os.write(int(fd), line.encode())


def install() -> None:
    """Wrap ActionBase._execute_module (in the warm server, before any request is forked)."""
    from ansible.plugins.action import ActionBase
    from ansible.vars.clean import remove_internal_keys

    original: Callable[..., dict[str, Any]] = ActionBase._execute_module
    if getattr(original, "_shieldops_in_worker", False):
        return

    def _execute_module(
        self: Any,
        module_name: str | None = None,
        module_args: dict[str, Any] | None = None,
        tmp: Any = None,
        task_vars: dict[str, Any] | None = None,
        persist_files: bool = False,
        delete_remote_tmp: Any = None,
        wrap_async: bool = False,
        ignore_unknown_opts: bool = False,
    ) -> dict[str, Any]:
        name = module_name or self._task.action
        if not _eligible(self, name, wrap_async):
            return original(
                self,
                module_name=module_name,
                module_args=module_args,
                tmp=tmp,
                task_vars=task_vars,
                persist_files=persist_files,
                delete_remote_tmp=delete_remote_tmp,
                wrap_async=wrap_async,
                ignore_unknown_opts=ignore_unknown_opts,
            )
        started = time.perf_counter()
        task_vars = {} if task_vars is None else task_vars
        args = self._task.args if module_args is None else module_args
        self._update_module_args(name, args, task_vars, ignore_unknown_opts=ignore_unknown_opts)
        bits, path = self._configure_module(module_name=name, module_args=args, task_vars=task_vars)
        environment: dict[str, str] = {}
        self._compute_environment_string(environment)
        self._used_interpreter = bits.shebang
        built = time.perf_counter()
        res = _run_payload(bits.b_module_data, path, {str(k): str(v) for k, v in environment.items()})
        _report(name, build_ms=(built - started) * 1000, run_ms=(time.perf_counter() - built) * 1000)
        data: dict[str, Any] = self._parse_returned_data(res, bits.serialization_profile)
        data.pop("_ansible_suppress_tmpdir_delete", None)
        remove_internal_keys(data)
        for stream in ("stdout", "stderr"):
            if stream in data and f"{stream}_lines" not in data:
                data[f"{stream}_lines"] = (data.get(stream) or "").splitlines()
        return data

    _execute_module._shieldops_in_worker = True  # type: ignore[attr-defined]
    ActionBase._execute_module = _execute_module
