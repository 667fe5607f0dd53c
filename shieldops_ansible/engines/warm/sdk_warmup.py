"""Import, once in the warm server, the SDKs every request would import again, and let each provider prepare
what its modules parse (its ``warm_imports`` and ``warm_up``, see providers/base.py)."""

from __future__ import annotations

import contextlib
import importlib

from ...providers import PROVIDER_TYPES

__all__ = ["warm_up"]

# What every provider's modules import (Ansible's own module_utils aside).
_COMMON_IMPORTS = ("urllib3", "yaml")


def warm_up() -> None:
    for name in (*_COMMON_IMPORTS, *(name for p in PROVIDER_TYPES.values() for name in p.warm_imports)):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    for provider in PROVIDER_TYPES.values():
        provider.warm_up()
