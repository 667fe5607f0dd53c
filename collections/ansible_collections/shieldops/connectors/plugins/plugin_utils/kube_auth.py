# -*- coding: utf-8 -*-
"""How a run reaches the Kubernetes API server, as the environment kubernetes.core's modules read: the settings'
kubeconfig (and context), or their server, CA and ServiceAccount token, the token read from its file at each call
(a projected token rotates). The one mapping the facade (shieldops_ansible.providers.kubernetes) and the
Kubernetes role's task environment (the kube_auth_env filter, in a run without the facade) use. Standard library
only (the facade loads this file by path).
"""
from __future__ import annotations

__all__ = ["TokenUnreadable", "auth_env"]


class TokenUnreadable(Exception):
    """The token file cannot be read, or is empty (the message names the file, never a token)."""


def auth_env(settings):
    """The environment for ``settings`` (a mapping of the KubernetesSettings fields); {} when they name neither
    a kubeconfig nor a token file."""
    if settings.get("kubeconfig"):
        env = {"K8S_AUTH_KUBECONFIG": str(settings["kubeconfig"])}
        if settings.get("context"):
            env["K8S_AUTH_CONTEXT"] = str(settings["context"])
        return env
    path = settings.get("token_file")
    if not path:
        return {}
    try:
        with open(path) as handle:
            token = handle.read().strip()
    except OSError as exc:
        raise TokenUnreadable(f"cannot read the token file {path}: {exc.strerror}") from None
    if not token:
        raise TokenUnreadable(f"the token file {path} is empty")
    return {
        "K8S_AUTH_HOST": str(settings["server"]),
        "K8S_AUTH_SSL_CA_CERT": str(settings["ca_file"]),
        "K8S_AUTH_VERIFY_SSL": "true",
        "K8S_AUTH_API_KEY": token,
    }
