"""Kubernetes: settings and the run environment for kubernetes.core.

Two ways in: a kubeconfig (and context), or a server URL with its CA and a ServiceAccount token read from a file.
The token file is read at every call, so a projected token that the kubelet rotates is picked up; the token
reaches the run only through the secret channel (``K8S_AUTH_API_KEY``), never a file we write.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator, model_validator

from ...errors import AuthenticationError
from ...models import plugin_utils
from ..base import EnvironmentSettings, Provider

if TYPE_CHECKING:
    from ...sandbox.backend import SandboxBackend

__all__ = ["KubernetesProvider", "KubernetesSettings"]


class KubernetesSettings(EnvironmentSettings):
    provider: Literal["kubernetes"]
    kubeconfig: str | None = Field(default=None, description="A kubeconfig file, instead of the token way.")
    context: str | None = Field(default=None, description="The kubeconfig's context; default its current one.")
    server: str | None = Field(
        default=None, pattern=r"^https://[^\s]+$", description="The API server's URL (with ca_file and token_file)."
    )
    ca_file: str | None = Field(default=None, description="The CA bundle the API server's certificate is checked with.")
    token_file: str | None = Field(
        default=None,
        description="A ServiceAccount token file, read at every run (a projected token the kubelet rotates).",
    )
    cluster_name: str = Field(
        default="cluster",
        pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
        description="The cluster's name in resource ids (cluster/NAME) and results.",
    )
    namespaces: list[str] | None = Field(
        default=None, description="The namespaces list_resources lists objects of; default all."
    )
    rollout_timeout_seconds: int = Field(
        default=300, ge=1, le=3600, description="How long a rollback waits for the rollout to settle, in seconds."
    )

    @field_validator("kubeconfig", "ca_file", "token_file")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return os.path.abspath(os.path.expanduser(value)) if value else value

    @model_validator(mode="after")
    def _one_way_in(self) -> KubernetesSettings:
        token_way = [self.server, self.ca_file, self.token_file]
        if self.kubeconfig and any(token_way):
            raise ValueError("give either kubeconfig (and context) or server, ca_file and token_file, not both")
        if not self.kubeconfig and not all(token_way):
            raise ValueError("needs kubeconfig, or server with ca_file and token_file")
        return self

    def role_settings(self) -> dict[str, Any]:
        # Where the credentials are (paths, never a token): a run without the facade reads the token file itself.
        way = self.model_dump(include={"kubeconfig", "context", "server", "ca_file", "token_file"}, exclude_none=True)
        return {
            "cluster_name": self.cluster_name,
            "namespaces": self.namespaces,
            "rollout_timeout_seconds": self.rollout_timeout_seconds,
            **way,
        }


class KubernetesProvider(Provider):
    name = "kubernetes"
    settings_model = KubernetesSettings
    # A kubeconfig's exec credential plugin gets only these and the base environment: give it what else it needs
    # in the kubeconfig's own `env:` list.
    run_env_names = frozenset(
        {
            "K8S_AUTH_KUBECONFIG",
            "K8S_AUTH_CONTEXT",
            "K8S_AUTH_HOST",
            "K8S_AUTH_SSL_CA_CERT",
            "K8S_AUTH_VERIFY_SSL",
            "K8S_AUTH_API_KEY",
        }
    )
    worker_modules = frozenset(
        {"kubernetes.core.k8s", "kubernetes.core.k8s_drain", "kubernetes.core.k8s_info", "kubernetes.core.k8s_scale"}
    )
    warm_imports = ("kubernetes.client", "kubernetes.dynamic", "kubernetes.config", "jsonpatch")
    warm_plugins = {"action": ("kubernetes.core.k8s", "kubernetes.core.k8s_info")}

    async def credentials_env(self, settings: EnvironmentSettings) -> dict[str, str]:
        assert isinstance(settings, KubernetesSettings)
        module = plugin_utils("kube_auth")  # the role's mapping too, in a run without the facade
        try:
            env: dict[str, str] = module.auth_env(settings.model_dump(mode="json"))
        except module.TokenUnreadable as unreadable:
            raise AuthenticationError(str(unreadable)) from None
        return env

    @classmethod
    def sandbox_backend(cls) -> SandboxBackend:
        from .sandbox import KubernetesSandboxBackend

        return KubernetesSandboxBackend()
