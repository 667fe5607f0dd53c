"""Providers: one module each in this package (or another distribution's, through an entry point), found by
:mod:`.registry`; shared code reads ``PROVIDER_TYPES`` and names none of them."""

from __future__ import annotations

from .base import Capabilities, EnvironmentSettings, Provider
from .registry import PROVIDER_TYPES, register

__all__ = ["PROVIDER_TYPES", "Capabilities", "EnvironmentSettings", "Provider", "register"]
