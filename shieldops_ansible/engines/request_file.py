"""Serialise request variables for ``ansible-playbook -e @file`` so that Ansible treats every string as data.

ansible-core templates extra vars; an agent-supplied ``{{ lookup('pipe', ...) }}`` would run. The document's root
mapping is tagged ``!unsafe``: Ansible then marks every string below it unsafe (never templated). Scalars are not
tagged one by one on purpose: ansible-core re-resolves a tagged scalar as if unquoted, so ``!unsafe "true"`` would
arrive as a boolean and ``!unsafe "0123"`` as a number. Below an unsafe mapping, quoted strings stay strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["dump_unsafe"]


class _UnsafeRoot(dict[str, Any]):
    pass


class _Dumper(yaml.SafeDumper):
    pass


def _root(dumper: yaml.SafeDumper, value: _UnsafeRoot) -> yaml.MappingNode:
    return dumper.represent_mapping("!unsafe", dict(value))


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # Always quoted, so that no string is read back as another type.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')


_Dumper.add_representer(_UnsafeRoot, _root)
_Dumper.add_representer(str, _str)


def dump_unsafe(variables: Mapping[str, Any]) -> str:
    return yaml.dump(_UnsafeRoot(variables), Dumper=_Dumper, allow_unicode=False, sort_keys=True, width=1 << 30)
