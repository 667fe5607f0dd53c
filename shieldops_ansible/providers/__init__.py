"""The provider registry: one entry per role folder under ``roles/``."""

from __future__ import annotations

from .aws import AwsProvider
from .base import Capabilities, EnvironmentSettings, Provider
from .kubernetes import KubernetesProvider
from .linux import LinuxProvider

__all__ = ["PROVIDER_TYPES", "Capabilities", "EnvironmentSettings", "Provider"]

PROVIDER_TYPES: dict[str, type[Provider]] = {
    AwsProvider.name: AwsProvider,
    LinuxProvider.name: LinuxProvider,
    KubernetesProvider.name: KubernetesProvider,
}
