"""`shieldops-ansible demo`: bring the sandbox up and run the sample agent against each of its environments."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType

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
    return 0
