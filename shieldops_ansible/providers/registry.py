"""The provider registry: providers are found, never listed by hand in shared code.

Three ways in, all looked at the first time the registry is read:

- our own providers: every module of this package that defines a concrete :class:`Provider` subclass;
- providers of other distributions: entry points in the group ``shieldops_ansible.providers``, each naming a
  Provider subclass (``name = "package.module:ProviderClass"``);
- providers a process registers itself with :func:`register` (tests, embedders).

A name found twice is an error that names both places, rather than one silently shadowing the other.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Mapping
from importlib import metadata

from .base import Provider

__all__ = ["ENTRY_POINT_GROUP", "PROVIDER_TYPES", "ProviderRegistry", "register"]

ENTRY_POINT_GROUP = "shieldops_ansible.providers"
# Modules of this package that hold the seam itself, not a provider.
_NOT_PROVIDERS = frozenset({"base", "registry"})


class ProviderRegistry(Mapping[str, type[Provider]]):
    """Provider name -> Provider class, discovered on first use."""

    def __init__(self) -> None:
        self._found: dict[str, type[Provider]] | None = None
        self._where: dict[str, str] = {}
        self._registered: dict[str, type[Provider]] = {}

    def register(self, provider: type[Provider]) -> type[Provider]:
        """Add ``provider`` to this process's registry (usable as a class decorator)."""
        self._add(self._discovered(), provider, "register()")
        self._registered[provider.name] = provider
        return provider

    def unregister(self, name: str) -> None:
        """Take back a provider added with :meth:`register` (tests clean up with it)."""
        if self._registered.pop(name, None) is not None and self._found is not None:
            self._found.pop(name, None)
            self._where.pop(name, None)

    def __getitem__(self, name: str) -> type[Provider]:
        return self._discovered()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._discovered())

    def __len__(self) -> int:
        return len(self._discovered())

    def _discovered(self) -> dict[str, type[Provider]]:
        if self._found is None:
            found: dict[str, type[Provider]] = {}
            self._where = {}
            for module_info in pkgutil.iter_modules(_package_path()):
                if module_info.name in _NOT_PROVIDERS or module_info.name.startswith("_"):
                    continue
                module = importlib.import_module(f"{__package__}.{module_info.name}")
                for value in vars(module).values():
                    if _is_provider(value) and value.__module__ == module.__name__:
                        self._add(found, value, module.__name__)
            for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
                loaded = entry.load()
                if not _is_provider(loaded):
                    raise TypeError(f"entry point {entry.name} = {entry.value} is not a Provider subclass")
                if found.get(loaded.name) is loaded:
                    continue  # our own providers may be declared as entry points too
                self._add(found, loaded, f"entry point {entry.value}")
            for provider in self._registered.values():
                self._add(found, provider, "register()")
            self._found = found
        return self._found

    def _add(self, found: dict[str, type[Provider]], provider: type[Provider], where: str) -> None:
        if not _is_provider(provider):
            raise TypeError(f"{provider!r} is not a Provider subclass with a name")
        known = found.get(provider.name)
        if known is not None and known is not provider:
            raise TypeError(f"two providers named {provider.name!r}: {self._where[provider.name]} and {where}")
        found[provider.name] = provider
        self._where[provider.name] = where


def _package_path() -> list[str]:
    from . import __path__ as package_path

    return list(package_path)


def _is_provider(value: object) -> bool:
    return (
        isinstance(value, type)
        and issubclass(value, Provider)
        and value is not Provider
        and isinstance(getattr(value, "name", None), str)
    )


PROVIDER_TYPES = ProviderRegistry()
register = PROVIDER_TYPES.register
