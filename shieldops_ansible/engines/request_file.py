"""Serialise request variables for ``ansible-playbook -e @file`` with every string tagged ``!unsafe``.

ansible-core templates extra vars; an agent-supplied ``{{ lookup('pipe', ...) }}`` would run. ``!unsafe`` makes
Ansible treat the value as data on every ansible-core version we support.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

__all__ = ["dump_unsafe"]


class _UnsafeDumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("!unsafe", value, style='"')


_UnsafeDumper.add_representer(str, _str)


def dump_unsafe(variables: Mapping[str, Any]) -> str:
    return yaml.dump(dict(variables), Dumper=_UnsafeDumper, allow_unicode=False, sort_keys=True, width=1 << 30)
