"""Checks on untrusted input (agent requests, often written by an LLM) before anything reaches Ansible.

Values are data: they are validated here, travel to Ansible tagged ``!unsafe`` (see ``engines.request_file``)
and appear in errors only through :func:`quote_untrusted`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequest, quote_untrusted

__all__ = [
    "MAX_TEXT",
    "check_json_data",
    "check_mapping",
    "check_name",
    "check_text",
]

MAX_TEXT = 2048
_MAX_DEPTH = 6
_MAX_ITEMS = 200
# Printable text without control characters: NUL, newlines and escapes have no place in an id or a name.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def check_text(value: Any, field: str, *, max_len: int = MAX_TEXT, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string, not {type(value).__name__}")
    if len(value) > max_len:
        raise InvalidRequest(f"{field} is {len(value)} characters long; the limit is {max_len}")
    probe = value.replace("\n", "").replace("\t", "") if multiline else value
    if _CONTROL.search(probe):
        raise InvalidRequest(f"{field} contains control characters: {quote_untrusted(value)}")
    return value


def check_name(value: Any, field: str) -> str:
    """A vocabulary word: resource type, action type, filter key, parameter name."""
    check_text(value, field, max_len=64)
    if not _NAME.match(value):
        raise InvalidRequest(f"{field} is not a valid name: {quote_untrusted(value)}")
    return str(value)


def check_json_data(value: Any, field: str, depth: int = 0) -> Any:
    """Plain JSON-like data of bounded size: str, int, float, bool, None, lists and str-keyed dicts."""
    if depth > _MAX_DEPTH:
        raise InvalidRequest(f"{field} is nested too deeply")
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return check_text(value, field)
    if isinstance(value, list | tuple):
        if len(value) > _MAX_ITEMS:
            raise InvalidRequest(f"{field} has more than {_MAX_ITEMS} items")
        return [check_json_data(v, f"{field}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return check_mapping(value, field, depth + 1)
    raise InvalidRequest(f"{field} has an unsupported type {type(value).__name__}")


def check_mapping(value: Any, field: str, depth: int = 0) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidRequest(f"{field} must be a mapping, not {type(value).__name__}")
    if len(value) > _MAX_ITEMS:
        raise InvalidRequest(f"{field} has more than {_MAX_ITEMS} keys")
    out: dict[str, Any] = {}
    for key, item in value.items():
        check_text(key, f"{field} key", max_len=128)
        out[key] = check_json_data(item, f"{field}.{key}", depth)
    return out
