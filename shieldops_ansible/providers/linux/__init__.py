"""Linux hosts over SSH: settings and the run environment.

Hosts come from the environment's Ansible inventory (a YAML/INI file or any inventory plugin source), so an
existing estate plugs in as it is. Authentication is ssh-agent only: the run sees ``SSH_AUTH_SOCK`` and strict
host key checking against the configured known_hosts file. We never read, write or pass a private key.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shlex
import stat
import tempfile
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ...errors import AuthenticationError
from ..base import EnvironmentSettings, Provider

if TYPE_CHECKING:
    from ...sandbox.backend import SandboxBackend

__all__ = ["LinuxProvider", "LinuxSettings"]


class Threshold(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    degraded: float = Field(description="At or above this value the check is degraded.")
    unhealthy: float = Field(description="At or above this value the check is unhealthy.")


class LinuxThresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    load_per_core: Threshold = Field(
        default=Threshold(degraded=1.5, unhealthy=4.0),
        description="The 1-minute load average divided by the host's CPU count.",
    )
    memory_percent: Threshold = Field(
        default=Threshold(degraded=85, unhealthy=95), description="Memory in use (without cache), percent of total."
    )
    disk_percent: Threshold = Field(
        default=Threshold(degraded=85, unhealthy=95),
        description="Space used on the fullest mounted filesystem, percent of its size.",
    )


class LinuxSettings(EnvironmentSettings):
    provider: Literal["linux"]
    inventory: str = Field(description="inventory file or inventory plugin source")
    known_hosts: str | None = Field(default=None, description="known_hosts file; default ~/.ssh/known_hosts")
    ssh_auth_sock: str | None = Field(default=None, description="ssh-agent socket; default $SSH_AUTH_SOCK")
    forward_agent: bool = False
    connect_timeout: int = Field(default=10, ge=1, le=300)
    thresholds: LinuxThresholds = Field(
        default=LinuxThresholds(), description="Where get_health of a host turns degraded and unhealthy."
    )

    @field_validator("inventory", "known_hosts", "ssh_auth_sock")
    @classmethod
    def _expand(cls, value: str | None) -> str | None:
        return os.path.abspath(os.path.expanduser(value)) if value else value

    def role_settings(self) -> dict[str, Any]:
        return {"thresholds": self.thresholds.model_dump()}

    def inventory_sources(self) -> list[str]:
        return [self.inventory]


# ssh's ControlPath is a Unix socket: sun_path holds 108 bytes, and ssh first binds "<path>.<16 random chars>".
# %C expands to 40 hex characters, so the folder's own path must stay within this many bytes.
_MAX_CONTROL_DIR = 104 - 1 - 40 - 17


def _control_dir(sock: str, known_hosts: str) -> str:
    """A folder for ssh's control sockets that only we can use, refused if it is not.

    Whoever can write in it can plant a socket that our ssh then trusts as an open master (and rides our hosts
    through it), or read our connections' sockets. In a 0700 folder of our own under XDG_RUNTIME_DIR when there
    is one (itself ours and private), else in the temporary directory; the name is predictable (so runs and
    processes share masters), so an existing folder is used only if lstat shows a real directory, ours, 0700.
    """
    digest = hashlib.sha256(f"{sock}\0{known_hosts}".encode()).hexdigest()[:12]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime) and _private_dir(runtime):
        path = os.path.join(runtime, f"shieldops-ssh-{digest}")
        if len(os.fsencode(path)) <= _MAX_CONTROL_DIR:
            return _make_private(path)
    name = f"shieldops-ssh-{os.getuid()}-{digest}"
    path = os.path.join(tempfile.gettempdir(), name)
    # A long TMPDIR would make ssh fail with "ControlPath too long": /tmp then.
    return _make_private(path if len(os.fsencode(path)) <= _MAX_CONTROL_DIR else os.path.join("/tmp", name))


def _private_dir(path: str) -> bool:
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and info.st_mode & 0o077 == 0


def _make_private(path: str) -> str:
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, 0o700)
    if not _private_dir(path):
        # AuthenticationError, not BackendUnavailable: nothing transient, retrying cannot help, and what is at
        # stake is whose SSH connections a run would use. An operator has to remove or fix the folder.
        raise AuthenticationError(
            f"the SSH control folder {path} is not a directory of ours with mode 0700 (a symlink, another "
            "user's, or open to others): refusing to use it; remove it"
        )
    return path


class LinuxProvider(Provider):
    name = "linux"
    settings_model = LinuxSettings
    run_env_names = frozenset(
        {
            "SSH_AUTH_SOCK",
            "ANSIBLE_HOST_KEY_CHECKING",
            "ANSIBLE_SSH_COMMON_ARGS",
            "ANSIBLE_TIMEOUT",
            "ANSIBLE_PIPELINING",
        }
    )

    async def credentials_env(self, settings: EnvironmentSettings) -> dict[str, str]:
        assert isinstance(settings, LinuxSettings)
        sock = settings.ssh_auth_sock or os.environ.get("SSH_AUTH_SOCK")
        if not sock or not os.path.exists(sock):
            raise AuthenticationError("no ssh-agent: set ssh_auth_sock in the environment's settings or SSH_AUTH_SOCK")
        known_hosts = settings.known_hosts or os.path.expanduser("~/.ssh/known_hosts")
        options = [
            f"-o UserKnownHostsFile={shlex.quote(known_hosts)}",
            "-o StrictHostKeyChecking=yes",
            "-o BatchMode=yes",
            "-o PasswordAuthentication=no",
            "-o KbdInteractiveAuthentication=no",
            f"-o ForwardAgent={'yes' if settings.forward_agent else 'no'}",
            # A dead peer is noticed in 10 s instead of hanging a task.
            "-o ServerAliveInterval=5",
            "-o ServerAliveCountMax=2",
            # Reuse one connection per host across tasks and runs, but never across identities: the control path
            # is keyed by agent socket and known_hosts, so another agent cannot ride on an open master.
            "-o ControlMaster=auto",
            "-o ControlPersist=60s",
            f"-o ControlPath={shlex.quote(_control_dir(sock, known_hosts))}/%C",
        ]
        return {
            "SSH_AUTH_SOCK": sock,
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_COMMON_ARGS": " ".join(options),
            "ANSIBLE_TIMEOUT": str(settings.connect_timeout),
            "ANSIBLE_PIPELINING": "True",
        }

    @classmethod
    def sandbox_backend(cls) -> SandboxBackend:
        from .sandbox import LinuxSandboxBackend

        return LinuxSandboxBackend()
