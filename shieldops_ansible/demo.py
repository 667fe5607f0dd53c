"""`shieldops-ansible demo`: bring the sandbox up and run the sample agent against each of its environments."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from .config import load_config
from .connector import connect
from .paths import project_dir
from .providers import PROVIDER_TYPES

__all__ = ["run_demo"]


def _sample_agent() -> ModuleType:
    path = project_dir() / "examples" / "sample_agent.py"
    spec = importlib.util.spec_from_file_location("shieldops_sample_agent", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


async def run_demo(directory: Path) -> int:
    from .sandbox import manager

    config_path = manager.up(directory, log=print)
    print(f"sandbox config: {config_path}")
    agent = _sample_agent()
    config = load_config(config_path)
    # The environments named after a provider are the sandbox's main ones; the others are variants for tests.
    names = [name for name in config.environments if name in PROVIDER_TYPES]
    for name in names:
        started = time.perf_counter()
        async with connect(name, config=config_path) as conn:
            steps = await agent.triage(conn)
        agent.print_steps(steps)
        print(f"{name}: {len(steps)} steps in {time.perf_counter() - started:.1f} s\n")
    samples = json.loads((directory / "sandbox.json").read_text())["samples"]
    await _mcp_session(config_path, samples, next(name for name in names if name in samples))
    return 0


async def _mcp_session(config_path: Path, samples: dict[str, Any], environment: str) -> None:
    """What an agent's MCP client sees: `shieldops-ansible mcp --env ENVIRONMENT` over stdio (read-only, as it
    starts by default), its tools, one health and one dry run, through the SDK's own stdio client."""
    from mcp import Client, StdioServerParameters

    command = ["-m", "shieldops_ansible.cli", "mcp", "--config", str(config_path), "--env", environment]
    sample = samples[environment]
    action = sample["dry_run_action"]
    started = time.perf_counter()
    async with Client(StdioServerParameters(command=sys.executable, args=command)) as client:
        tools = sorted(tool.name for tool in (await client.list_tools()).tools)
        listed = time.perf_counter()
        print(f"mcp tools ({listed - started:.1f} s to start and list): {', '.join(tools)}")
        for _ in range(2):  # the first call starts the server's warm engine; the second is what later calls cost
            called = time.perf_counter()
            health = await client.call_tool(
                "get_health", {"environment": environment, "resource_id": sample["service"]}
            )
            print(
                f"mcp get_health {sample['service']}: status={(health.structured_content or {}).get('status')} "
                f"in {time.perf_counter() - called:.2f} s"
            )
        arguments = {"environment": environment, **{k: action[k] for k in ("type", "resource_id", "parameters")}}
        dry = await client.call_tool("execute_action", arguments)
        result = dry.structured_content or {}
        print(
            f"mcp execute_action {action['type']} {action['resource_id']}: status={result.get('status')} "
            f"diff={json.dumps(result.get('diff'), sort_keys=True)}"
        )
