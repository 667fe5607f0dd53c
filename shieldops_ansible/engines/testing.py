"""A test double for the engine seam: records each RunRequest and answers from a script, running nothing.

For unit tests of code above the engine (the facade's validation, error mapping and result models), in the
spirit of httpx's MockTransport. Integration tests use the real engines.

    engine = ScriptedEngine({"get_health": {"ok": True, "value": {...}}})
    async with connect("aws", config=..., engine=engine) as conn: ...
    engine.requests[0].variables["shieldops_request"]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .base import RunRequest, RunResult

__all__ = ["ScriptedEngine"]

Answer = Mapping[str, Any] | RunResult | Callable[[RunRequest], Mapping[str, Any] | RunResult]


class ScriptedEngine:
    def __init__(self, answers: Mapping[str, Answer] | None = None) -> None:
        self.answers: dict[str, Answer] = dict(answers or {})
        self.requests: list[RunRequest] = []
        self.closed = False

    async def run(self, request: RunRequest) -> RunResult:
        self.requests.append(request)
        answer = self.answers.get(request.operation)
        if answer is None:
            raise AssertionError(f"no scripted answer for {request.operation}")
        if callable(answer):
            answer = answer(request)
        if isinstance(answer, RunResult):
            return answer
        return RunResult(status="successful" if answer.get("ok") else "failed", rc=0, result=answer)

    async def aclose(self) -> None:
        self.closed = True
