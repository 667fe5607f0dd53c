"""The environment a run starts from: an allow-list, never the agent's own environment filtered by name.

The agent's process may hold an LLM API key or anything else a deny-list would miss, and ansible-runner records
the plain part of a run's environment on disk (``artifacts/<id>/command``). So a run gets only:

- a minimal base from our own environment (:data:`BASE_NAMES`, ``LC_*``): what a POSIX program, Python and TLS
  need, and the ``SHIELDOPS_*`` settings the code and the playbooks read;
- the connection variables that may carry a password (proxies, :data:`CONNECTION_NAMES`), through the secret
  channel;
- what the engine sets itself (``ANSIBLE_*`` of :func:`ansible_settings`, ansible-runner's own variables);
- what the provider's credentials need (``Provider.credentials_env``, each provider declaring the names in
  ``Provider.run_env_names``), through the secret channel.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from ..paths import ansible_cfg

__all__ = [
    "BASE_NAMES",
    "CONNECTION_NAMES",
    "ENGINE_TOGGLES",
    "ansible_settings",
    "base_environment",
    "connection_environment",
    "is_base_name",
    "provider_env_names",
]

# Not secret, recorded in ansible-runner's artifacts. PYTHONPATH: where our own package and its plugins are
# imported from (a run imports shieldops_ansible in the launcher and the policy_check plugin); it is the
# operator's setting of the agent's own interpreter, not something an agent request can set.
BASE_NAMES = frozenset(
    {
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LANGUAGE",
        "TZ",
        "TMPDIR",
        "PYTHONPATH",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "XDG_STATE_HOME",
        "SHIELDOPS_PROJECT_DIR",
        "SHIELDOPS_CONFIG",
        "SHIELDOPS_STATE_DIR",
    }
)
# Switches of the warm engine's shortcuts (for comparisons): read by the server at start and by a request's
# child, so a request may carry them too.
ENGINE_TOGGLES = frozenset({"SHIELDOPS_WARM_INLINE", "SHIELDOPS_WARM_IN_WORKER", "SHIELDOPS_WARM_TEMPLATE_CACHE"})
# A proxy URL may hold a user and password: these travel the secret channel, never the recorded environment.
CONNECTION_NAMES = frozenset(
    {"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy"}
)


def is_base_name(name: str) -> bool:
    return name in BASE_NAMES or name in ENGINE_TOGGLES or name.startswith("LC_")


def base_environment(source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The allow-listed, non-secret part of ``source`` (default: our own environment)."""
    source = os.environ if source is None else source
    return {name: value for name, value in source.items() if is_base_name(name)}


def connection_environment(source: Mapping[str, str] | None = None) -> dict[str, str]:
    """The proxy settings of ``source`` (default: our own environment), for the secret channel."""
    source = os.environ if source is None else source
    return {name: value for name, value in source.items() if name in CONNECTION_NAMES}


def ansible_settings() -> dict[str, str]:
    """The Ansible settings every run of ours has, whatever engine runs it."""
    return {
        "ANSIBLE_CONFIG": str(ansible_cfg()),
        # Keep module tracebacks in failed results: some amazon.aws modules name the API error only there, and the
        # classify_error filter needs it to tell PermissionDenied from other failures. Nothing is printed from them.
        "ANSIBLE_DISPLAY_TRACEBACK": "error",
    }


def provider_env_names(extra: Iterable[str] = ()) -> frozenset[str]:
    """Every name some provider's runs may receive (a run that names no environment, e.g. a direct playbook run
    of a test or tool), plus ``extra``."""
    from ..providers import PROVIDER_TYPES

    names: set[str] = set(extra)
    for provider in PROVIDER_TYPES.values():
        names |= provider.run_env_names
    return frozenset(names)
