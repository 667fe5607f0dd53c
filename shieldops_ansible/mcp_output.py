"""Bounded MCP answers: pages with cursors for listings and events, and a byte cap on every answer.

An agent's context is small and a listing can be 10,000 resources (each with its provider's whole description in
``raw``). So a list answer is a page (``limit`` items at most, and never more than ``MAX_ANSWER_BYTES`` of JSON),
``raw`` is left out unless asked for, and a single answer over the cap (a snapshot's state, an action's diff) has
its largest fields emptied and named in ``omitted`` instead of being cut mid-value: what is left still validates
against the tool's output schema.

A listing is run once: the rest of it waits here for its cursor (``LISTING_TTL_S``, at most ``MAX_LISTINGS`` kept),
so paging through 10,000 resources does not list them 10,000 / limit times, and every page comes from the same
listing. A cursor names its listing and a position; it is refused for any other query.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "LISTING_TTL_S",
    "MAX_ANSWER_BYTES",
    "MAX_LISTINGS",
    "CursorRefused",
    "Listings",
    "bounded",
    "json_size",
    "query_digest",
]

# Structured content per answer, in bytes of compact JSON (~15,000 tokens): under what MCP clients accept from one
# tool call, with room for the text rendering.
MAX_ANSWER_BYTES = 60_000
LISTING_TTL_S = 300.0
MAX_LISTINGS = 16
# A page's own fields (next_cursor, total, the list's brackets): kept free under the cap.
_PAGE_OVERHEAD = 200


class CursorRefused(Exception):
    """A cursor this server cannot serve: unknown, expired, or for another query."""


def json_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), default=str).encode())


def query_digest(tool: str, arguments: Mapping[str, Any]) -> str:
    """What a cursor is bound to: the tool and the arguments that decide its listing."""
    return hashlib.sha256(json.dumps([tool, arguments], sort_keys=True, default=str).encode()).hexdigest()


def _emptied(value: Any) -> Any:
    if isinstance(value, dict):
        return {}
    if isinstance(value, list):
        return []
    if isinstance(value, str):
        return ""
    return None


def bounded(
    answer: dict[str, Any],
    omittable: Sequence[str],
    *,
    keep: Mapping[str, Sequence[str]] | None = None,
    cap: int = MAX_ANSWER_BYTES,
) -> dict[str, Any]:
    """``answer`` if it fits in ``cap``; else the same answer with its largest ``omittable`` fields emptied, one at a
    time until it fits, each named with its size in ``omitted``. ``keep``: keys of an emptied dict field that stay
    (an action's confirmation in its details)."""
    if json_size(answer) <= cap:
        return answer
    answer = dict(answer)
    omitted: list[str] = list(answer.get("omitted") or [])
    candidates = [name for name in omittable if answer.get(name)]
    while candidates and json_size(answer) > cap:
        largest = max(candidates, key=lambda name: json_size(answer[name]))
        candidates.remove(largest)
        size = json_size(answer[largest])
        kept = (keep or {}).get(largest, ())
        original = answer[largest]
        answer[largest] = _emptied(original)
        if kept and isinstance(original, dict):
            answer[largest] = {k: original[k] for k in kept if k in original}
        omitted.append(f"{largest} ({size} bytes: over this server's {cap}-byte answer cap)")
        answer["omitted"] = omitted  # counted too
    return answer


class Listings:
    """Listings waiting for their next page, each under a random token, bound to the query that made it."""

    def __init__(self, ttl_s: float = LISTING_TTL_S, max_listings: int = MAX_LISTINGS) -> None:
        self._ttl_s = ttl_s
        self._max = max_listings
        self._kept: OrderedDict[str, tuple[str, list[dict[str, Any]], float]] = OrderedDict()

    def page(
        self,
        digest: str,
        items: list[dict[str, Any]] | None,
        *,
        cursor: str | None,
        limit: int,
        omittable: Sequence[str] = (),
        cap: int = MAX_ANSWER_BYTES,
    ) -> tuple[list[dict[str, Any]], int, str | None]:
        """One page: (its items, the listing's total, the cursor of the next page or None). ``items``: a fresh
        listing (cursor None); with a cursor, the kept listing it names (``items`` is ignored)."""
        now = time.monotonic()
        for token in [t for t, (_, _, until) in self._kept.items() if until <= now]:
            del self._kept[token]
        if cursor is None:
            token, start, listing = secrets.token_urlsafe(12), 0, list(items or [])
        else:
            token, start = self._parse(cursor)
            kept = self._kept.get(token)
            if kept is None:
                raise CursorRefused("the cursor is unknown or has expired: list again without a cursor")
            if not secrets.compare_digest(kept[0], digest):
                raise CursorRefused("the cursor belongs to another listing: pass the arguments that listing had")
            listing = kept[1]
        taken: list[dict[str, Any]] = []
        used = _PAGE_OVERHEAD
        position = start
        while position < len(listing) and len(taken) < limit:
            item = bounded(listing[position], omittable, cap=cap - _PAGE_OVERHEAD)
            size = json_size(item) + 1
            if taken and used + size > cap:
                break
            taken.append(item)
            used += size
            position += 1
        if position >= len(listing):
            self._kept.pop(token, None)
            return taken, len(listing), None
        self._kept[token] = (digest, listing, now + self._ttl_s)
        self._kept.move_to_end(token)
        while len(self._kept) > self._max:
            self._kept.popitem(last=False)
        return taken, len(listing), f"{token}.{position}"

    @staticmethod
    def _parse(cursor: str) -> tuple[str, int]:
        token, _, position = cursor.rpartition(".")
        if not token or not position.isdigit() or len(cursor) > 64:
            raise CursorRefused("not a cursor of this server: pass next_cursor as it was returned")
        return token, int(position)
