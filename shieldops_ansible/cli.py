"""The ``shieldops-ansible`` command: the six operations, the sandbox, the demo and the audit trail.

Exit codes: 0 success, 1 a ShieldOpsError or a failed action, 2 bad usage.

The six operations' commands run in the per-user warm server when one runs (``warm-server start``; see
engines/warm/cli_relay.py): then this process imports nothing of the facade, which is most of a command's start.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .engines.warm.cli_relay import RELAYED_COMMANDS, ask_on_terminal, relay
from .errors import InvalidRequest, ShieldOpsError

if TYPE_CHECKING:
    from .models import Action

__all__ = ["main"]


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(items: Sequence[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidRequest(f"{what} must look like KEY=VALUE, not {item!r}")
        out[key] = _parse_value(value)
    return out


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="shieldops-ansible", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def op(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--env", required=True, help="environment name in the config file")
        p.add_argument("--config", help="config file (default: $SHIELDOPS_CONFIG, else ./shieldops.yaml)")
        p.add_argument("--json", action="store_true", help="print JSON")
        p.add_argument("--progress", action="store_true", help="print each Ansible task to stderr as it starts")
        return p

    p = op("health", "health of one resource")
    p.add_argument("resource_id")
    p = op("list", "list resources of a type")
    p.add_argument("resource_type", help="instance | service | function | cluster | a native type")
    p.add_argument("--name", help="glob on the name")
    p.add_argument("--state", help="running | stopped | pending | failed | unknown")
    p.add_argument("--tag", action="append", metavar="KEY=VALUE", help="tag that must match (repeatable)")
    p.add_argument("--filter", action="append", metavar="KEY=VALUE", help="provider filter (repeatable)")
    p = op("act", "run an action")
    p.add_argument("action_type", help="start | stop | restart | scale | redeploy | <provider>_<verb>")
    p.add_argument("resource_id")
    p.add_argument("--param", action="append", metavar="KEY=VALUE", help="action parameter (JSON values)")
    p.add_argument("--dry-run", action="store_true", help="check mode: report what would change")
    p.add_argument("--reason", help="why (recorded with the action)")
    p = op("events", "events of one resource")
    p.add_argument("resource_id")
    p.add_argument("--minutes", type=float, default=60, help="look back this far (default 60)")
    p = op("snapshot", "snapshot one resource")
    p.add_argument("resource_id")
    p = op("rollback", "restore a snapshot")
    p.add_argument("snapshot_id")

    sb = sub.add_parser("sandbox", help="local backends for every provider")
    sb.add_argument("action", choices=["up", "status", "down"])
    sb.add_argument("--dir", default="sandbox", help="sandbox directory (default ./sandbox)")
    demo = sub.add_parser("demo", help="run the sample agent against every sandbox environment")
    demo.add_argument("--dir", default="sandbox", help="sandbox directory (default ./sandbox)")
    mcp = sub.add_parser("mcp", help="serve the environments to MCP clients (stdio; read-only unless --allow-writes)")
    mcp.add_argument("--config", help="config file (default: $SHIELDOPS_CONFIG, else ./shieldops.yaml)")
    mcp.add_argument("--env", action="append", dest="envs", metavar="NAME", help="serve only these (repeatable)")
    mcp.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="http: streamable HTTP at /mcp")
    mcp.add_argument("--host", default="127.0.0.1", help="http: the address to bind (default loopback)")
    mcp.add_argument("--port", type=int, default=8765)
    token_help = "http: a file (mode 0600) holding the bearer token clients must send (or $SHIELDOPS_MCP_TOKEN)"
    mcp.add_argument("--token-file", help=token_help)
    mcp.add_argument("--allowed-host", action="append", dest="hosts", default=[], metavar="NAME", help="http: a Host")
    mcp.add_argument(
        "--allow-writes", action="store_true", help="real actions (each confirmed by its dry run's token) and rollback"
    )
    ws = sub.add_parser(
        "warm-server", help="the per-user warm server that CLI commands use instead of starting their own"
    )
    ws.add_argument("action", choices=["start", "status", "stop"])
    ws.add_argument(
        "--idle-timeout", type=float, default=1800, help="start: exit after this many idle seconds (default 1800)"
    )
    ws.add_argument("--max-requests", type=int, default=16, help="start: requests run at once (default 16)")
    au = sub.add_parser("audit", help="the audit trail (audit_log in the config file)")
    au.add_argument("action", choices=["tail"])
    au.add_argument("-n", type=int, default=20, help="how many records (default 20)")
    au.add_argument("--json", action="store_true", help="one JSON object per line, as stored")
    au.add_argument("--config", help="config file (default: $SHIELDOPS_CONFIG, else ./shieldops.yaml)")
    return parser


def _dump(value: Any) -> Any:
    from pydantic import BaseModel

    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def _print_human(command: str, value: Any) -> None:
    if command == "list":
        rows = [(r.id, r.type, r.name, r.state, "" if r.capacity is None else str(r.capacity)) for r in value]
        _table(("ID", "TYPE", "NAME", "STATE", "CAPACITY"), rows)
    elif command == "health":
        print(f"{value.resource_id}: {value.status}")
        for check in value.checks:
            print(f"  {check.status:<9} {check.name}: {check.message}")
        for key, num in value.metrics.items():
            print(f"  metric {key} = {num:g}")
    elif command == "events":
        _table(
            ("TIME", "SEVERITY", "SOURCE", "MESSAGE"),
            [(e.timestamp.isoformat(), e.severity, e.source, e.message) for e in value],
        )
    else:
        for key, item in _dump(value).items():
            print(f"{key}: {json.dumps(item) if isinstance(item, dict | list) else item}")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    widths = [max([len(h)] + [len(str(r[i])) for r in rows]) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))


def _progress(event: Mapping[str, Any]) -> None:
    if event.get("event") == "playbook_on_task_start":
        task = (event.get("event_data") or {}).get("task", "")
        print(f"[{datetime.now().strftime('%H:%M:%S')}] {task}", file=sys.stderr, flush=True)


def _approver(prompt: Callable[[str], bool]) -> Callable[[Action], bool]:
    """The CLI's approver: ``prompt`` asks the user (on this terminal, or the relaying client's)."""
    return lambda action: prompt(f"{action.type} on {action.resource_id}")


def _audit(args: argparse.Namespace) -> int:
    from .audit import AuditLog
    from .config import load_config

    cfg = load_config(args.config)
    if cfg.audit_log is None:
        raise InvalidRequest(f"{cfg.path}: no audit_log is configured")
    for record in AuditLog(cfg.audit_log).tail(args.n):
        if args.json:
            print(json.dumps(record, sort_keys=True))
            continue
        error = (record.get("error") or {}).get("message", "")
        print(
            f"{record.get('timestamp', '')}  {record.get('environment', '')}  {record.get('operation', '')}  "
            f"{record.get('resource_id') or '-'}  {record.get('outcome', '')}  {record.get('duration_ms', '')} ms"
            + (f"  snapshot {record['snapshot_id']}" if record.get("snapshot_id") else "")
            + (f"  ({error})" if error else "")
        )
    return 0


async def _operation(args: argparse.Namespace, prompt: Callable[[str], bool]) -> int:
    from .connector import connect
    from .engines.warm import prefer_user_server
    from .models import Action, ActionResult, TimeRange

    on_event = _progress if args.progress else None
    prefer_user_server()  # a running `warm-server` of this installation saves this command the server's start
    async with connect(args.env, config=args.config, on_event=on_event, approver=_approver(prompt)) as conn:
        value: Any
        if args.command == "health":
            value = await conn.get_health(args.resource_id)
        elif args.command == "list":
            filters: dict[str, Any] = _pairs(args.filter, "--filter")
            if args.name:
                filters["name"] = args.name
            if args.state:
                filters["state"] = args.state
            if args.tag:
                filters["tags"] = {k: str(v) for k, v in _pairs(args.tag, "--tag").items()}
            value = await conn.list_resources(args.resource_type, filters)
        elif args.command == "act":
            value = await conn.execute_action(
                Action(
                    type=args.action_type,
                    resource_id=args.resource_id,
                    parameters=_pairs(args.param, "--param"),
                    dry_run=args.dry_run,
                    reason=args.reason,
                )
            )
        elif args.command == "events":
            value = await conn.get_events(args.resource_id, TimeRange.last(minutes=args.minutes))
        elif args.command == "snapshot":
            value = await conn.create_snapshot(args.resource_id)
        else:
            value = await conn.rollback(args.snapshot_id)
    if args.json:
        print(json.dumps(_dump(value), indent=2))
    else:
        _print_human(args.command, value)
    failed = isinstance(value, ActionResult) and not value.success
    return 1 if failed else 0


def _sandbox(args: argparse.Namespace) -> int:
    from .sandbox import manager

    directory = Path(args.dir)
    if args.action == "up":
        path = manager.up(directory, log=lambda m: print(m, file=sys.stderr))
        print(path)
    elif args.action == "status":
        info = manager.status(directory)
        print(json.dumps(info, indent=2))
        return 0 if info["running"] else 1
    else:
        stopped = manager.down(directory)
        print("stopped: " + (", ".join(stopped) or "nothing was running"))
    return 0


def _warm_server(args: argparse.Namespace) -> int:
    from .engines.warm import user_server

    if args.action == "start":
        info = user_server.start_user_server(idle_timeout_s=args.idle_timeout, max_requests=args.max_requests)
        state = "already running" if info.get("already_running") else "started"
        print(f"warm server {state}: pid {info['pid']}, socket {user_server.user_socket_path()}")
        return 0
    current = user_server.user_socket_path()
    if args.action == "status":
        answer = user_server.ping(current)
        others = [str(p) for p in user_server.other_servers()]
        report = {"running": answer is not None, "socket": str(current)}
        if answer is not None:
            report |= {k: v for k, v in answer.items() if k != "event"}
        if others:
            report["other_servers"] = others  # other code (an upgrade, an edit) or another base environment
        print(json.dumps(report, indent=2))
        return 0 if answer is not None else 1
    stopped = [str(p) for p in [current, *user_server.other_servers()] if user_server.send_control(p, "stop")]
    print("stopped: " + (", ".join(stopped) or "no warm server was running"))
    return 0


def _mcp(args: argparse.Namespace) -> int:
    from .mcp_http import HttpOptions
    from .mcp_server import serve

    http = None
    if args.transport == "http":
        token_file = Path(args.token_file) if args.token_file else None
        http = HttpOptions(host=args.host, port=args.port, token_file=token_file, allowed_hosts=tuple(args.hosts))
    elif args.token_file or args.hosts:
        print("error: --token-file and --allowed-host are for --transport http", file=sys.stderr)
        return 2
    try:
        serve(args.config, args.envs, allow_writes=args.allow_writes, http=http)
    except InvalidRequest as exc:  # unsafe HTTP options: nothing was served
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None, *, prompt: Callable[[str], bool] | None = None) -> int:
    """``prompt``: how an approval is asked (given what is to be approved); the terminal's unless this command was
    relayed from another process, which then asks its own."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if prompt is None and args.command in RELAYED_COMMANDS and (relayed := relay(argv)) is not None:
        return relayed
    try:
        if args.command == "sandbox":
            return _sandbox(args)
        if args.command == "audit":
            return _audit(args)
        if args.command == "mcp":
            return _mcp(args)
        if args.command == "warm-server":
            return _warm_server(args)
        if args.command == "demo":
            import asyncio

            from .demo import run_demo

            return asyncio.run(run_demo(Path(args.dir)))
        import asyncio

        return asyncio.run(_operation(args, prompt or ask_on_terminal))
    except ShieldOpsError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
