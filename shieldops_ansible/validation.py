"""The rules for untrusted input (agent requests, often written by an LLM), in one place.

Every value of a request passes these checks before anything reaches Ansible, whichever operation carries it:
text has one set of character rules and a limit per kind (:data:`LIMITS`), integers are bounded, floats finite,
mapping keys follow one grammar, data is bounded in depth and size. Values then travel to Ansible tagged
``!unsafe`` (see ``engines.request_file``) and appear in errors only through :func:`quote_untrusted`, so an error
message never carries agent text verbatim (an agent reads those: it must not become an instruction channel).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from .errors import InvalidRequest, quote_untrusted

__all__ = [
    "LIMITS",
    "MAX_INT",
    "MAX_TEXT",
    "check_float",
    "check_int",
    "check_json_data",
    "check_key",
    "check_mapping",
    "check_name",
    "check_text",
    "clean_output",
    "field_of",
]

# The length limit of each kind of text a request carries (characters).
LIMITS: Mapping[str, int] = {
    "name": 64,  # a vocabulary word: resource type, action type, filter key, parameter name
    "key": 128,  # a key of a mapping the agent sends (tags)
    "environment": 128,
    "value": 256,  # a short value: a filter's name glob, a tag value, a string parameter
    "id": 512,  # a resource id
    "reason": 2000,  # the free-text reason of an action (may span lines)
    "text": 2048,  # any other string inside request data
}
MAX_TEXT = LIMITS["text"]
# Integers a request may carry: what JSON consumers (and YAML, and Ansible's own JSON) keep exactly. Larger ones
# also break str() beyond 4,300 digits, so they are refused before anything formats them.
MAX_INT = 2**53 - 1
_MAX_DEPTH = 6
_MAX_ITEMS = 200
_MAX_OUTPUT = 1000
# Unicode categories no request text may contain: controls (Cc), format characters such as bidirectional
# overrides and zero-width joiners (Cf: they make text read differently from what it is), surrogates (Cs: not
# encodable), private use (Co), unassigned (Cn), and the line/paragraph separators (Zl, Zp).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_MULTILINE_ALLOWED = frozenset("\n\t")
_ASCII_SAFE = re.compile(r"^[\x20-\x7e]*$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")
# Tag and label keys of every provider fit this: AWS tag keys (letters, digits, spaces and + - = . _ : / @),
# Kubernetes label keys ([prefix/]name).
_KEY = re.compile(r"^[A-Za-z0-9_.:/=+@-](?:[A-Za-z0-9_.:/=+@ -]{0,126}[A-Za-z0-9_.:/=+@-])?$")


def field_of(parent: str, key: Any) -> str:
    """The name of an item of ``parent`` for error messages: the key quoted, never verbatim."""
    return f"{parent}[{quote_untrusted(key)}]"


def _bad_character(value: str, multiline: bool) -> str | None:
    if _ASCII_SAFE.match(value):  # the common case, without a per-character look-up
        return None
    for char in value:
        if multiline and char in _MULTILINE_ALLOWED:
            continue
        if unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            return char
    return None


def check_text(value: Any, field: str, *, kind: str = "text", multiline: bool = False) -> str:
    """A string of ``kind`` (see :data:`LIMITS`): bounded, printable, no control or invisible characters."""
    max_len = LIMITS[kind]
    if not isinstance(value, str):
        raise InvalidRequest(f"{field} must be a string, not {type(value).__name__}")
    if len(value) > max_len:
        raise InvalidRequest(f"{field} is {len(value)} characters long; the limit is {max_len}")
    bad = _bad_character(value, multiline)
    if bad is not None:
        raise InvalidRequest(
            f"{field} contains a character that is not allowed (U+{ord(bad):04X}): {quote_untrusted(value)}"
        )
    return value


def check_name(value: Any, field: str) -> str:
    """A vocabulary word: resource type, action type, filter key, parameter name."""
    check_text(value, field, kind="name")
    if not _NAME.match(value):
        raise InvalidRequest(f"{field} is not a valid name: {quote_untrusted(value)}")
    return str(value)


def check_key(value: Any, field: str) -> str:
    """A key of a mapping the agent sends (tags, labels): one grammar whatever the provider."""
    check_text(value, field, kind="key")
    if not _KEY.match(value):
        raise InvalidRequest(f"{field} is not a valid key: {quote_untrusted(value)}")
    return str(value)


def check_int(value: Any, field: str, *, minimum: int = -MAX_INT, maximum: int = MAX_INT) -> int:
    # bool is an int in Python, never in a request.
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{field} must be an integer, not {type(value).__name__}")
    # Compared, never formatted: str() of a 5,000-digit integer raises.
    if value < minimum:
        raise InvalidRequest(f"{field} must be >= {minimum}")
    if value > maximum:
        raise InvalidRequest(f"{field} must be <= {maximum}")
    return value


def check_float(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{field} must be a number, not {type(value).__name__}")
    if isinstance(value, int):
        return float(check_int(value, field))
    if not math.isfinite(value):
        raise InvalidRequest(f"{field} must be a finite number")
    return value


def check_json_data(value: Any, field: str, depth: int = 0) -> Any:
    """Plain JSON-like data of bounded size: str, bounded int, finite float, bool, None, lists, mappings with
    keys of the key grammar."""
    if depth > _MAX_DEPTH:
        raise InvalidRequest(f"{field} is nested too deeply")
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return check_int(value, field)
    if isinstance(value, float):
        return check_float(value, field)
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
        check_key(key, f"a key of {field}")
        out[key] = check_json_data(item, field_of(field, key), depth)
    return out


def clean_output(message: Any) -> str:
    """Text we pass on from a playbook or provider (it may quote agent input): the characters request text may
    not contain are replaced, the length bounded."""
    text = str(message)
    cut = len(text) > _MAX_OUTPUT
    if cut:
        text = text[: _MAX_OUTPUT - 3]
    if not _ASCII_SAFE.match(text):
        text = "".join(
            "?" if char not in _MULTILINE_ALLOWED and unicodedata.category(char) in _FORBIDDEN_CATEGORIES else char
            for char in text
        )
    return text + "..." if cut else text
