"""Run the six operations on one echo environment through the facade and print what each returned, as JSON.

Started by test_echo_provider.py in a process of its own, where the provider is found by its entry point only.
"""

from __future__ import annotations

import asyncio
import json
import sys

from shieldops_ansible import Action, TimeRange, connect


async def main(environment: str, config: str) -> None:
    async with connect(environment, config=config) as conn:
        listed = await conn.list_resources("instance", filters={"tags": {"team": "blue"}})
        before = await conn.get_health("box/alpha")
        events = await conn.get_events("box/alpha", TimeRange.last(minutes=60))
        snapshot = await conn.create_snapshot("box/alpha")
        dry = await conn.execute_action(Action(type="stop", resource_id="box/alpha", dry_run=True))
        after_dry = await conn.get_health("box/alpha")
        stop = await conn.execute_action(Action(type="stop", resource_id="box/alpha", reason="proof"))
        stopped = await conn.get_health("box/alpha")
        rolled = await conn.rollback(stop.snapshot_id or snapshot.id)
        restored = await conn.get_health("box/alpha")
        errors = {}
        for name, call in {
            "bad_id": conn.get_health("box/Not_An_Id"),
            "unknown_box": conn.get_health("box/nobody"),
            "bad_action": conn.execute_action(Action(type="scale", resource_id="box/alpha")),
        }.items():
            try:
                await call
            except Exception as exc:  # the error class is what is checked
                errors[name] = type(exc).__name__
    dump = {
        "listed": [r.model_dump(mode="json") for r in listed],
        "before": before.model_dump(mode="json"),
        "events": [e.model_dump(mode="json") for e in events],
        "snapshot": snapshot.model_dump(mode="json"),
        "dry": dry.model_dump(mode="json"),
        "after_dry": after_dry.model_dump(mode="json"),
        "stop": stop.model_dump(mode="json"),
        "stopped": stopped.model_dump(mode="json"),
        "rollback": rolled.model_dump(mode="json"),
        "restored": restored.model_dump(mode="json"),
        "errors": errors,
    }
    print(json.dumps(dump))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
