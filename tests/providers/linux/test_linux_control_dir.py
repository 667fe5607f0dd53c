"""The SSH control folder: private to us, or refused (whoever can write in it can plant a master we would trust)."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from shieldops_ansible.errors import AuthenticationError
from shieldops_ansible.providers.linux import LinuxProvider, LinuxSettings, _control_dir


@pytest.fixture
def tmp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private temporary directory with a short path (as /tmp is) and no XDG_RUNTIME_DIR, so that each test
    starts from nothing."""
    base = Path(tempfile.mkdtemp(prefix="sc-", dir="/tmp"))
    monkeypatch.setattr(tempfile, "tempdir", str(base))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    yield base
    for inner in base.iterdir():
        if inner.is_dir() and not inner.is_symlink():
            inner.chmod(0o700)
    shutil.rmtree(base)


def _expected(tmp: Path) -> Path:
    made = Path(_control_dir("/agent.sock", "/known_hosts"))
    assert made.parent == tmp
    return made


def test_a_new_folder_is_ours_and_0700(tmp: Path) -> None:
    path = _expected(tmp)
    info = os.lstat(path)
    assert stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and stat.S_IMODE(info.st_mode) == 0o700
    assert _control_dir("/agent.sock", "/known_hosts") == str(path)  # the same folder next time (shared masters)
    assert _control_dir("/other.sock", "/known_hosts") != str(path)  # never across identities


def test_a_symlink_is_refused(tmp: Path) -> None:
    path = _expected(tmp)
    path.rmdir()
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    path.symlink_to(elsewhere)
    with pytest.raises(AuthenticationError, match="SSH control folder"):
        _control_dir("/agent.sock", "/known_hosts")


def test_a_folder_open_to_others_is_refused(tmp: Path) -> None:
    path = _expected(tmp)
    for mode in (0o755, 0o770, 0o701):
        path.chmod(mode)
        with pytest.raises(AuthenticationError, match="mode 0700"):
            _control_dir("/agent.sock", "/known_hosts")


def test_a_file_in_its_place_is_refused(tmp: Path) -> None:
    path = _expected(tmp)
    path.rmdir()
    path.write_text("")
    path.chmod(0o600)
    with pytest.raises(AuthenticationError):
        _control_dir("/agent.sock", "/known_hosts")


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to make a folder of another user")
def test_another_users_folder_is_refused(tmp: Path) -> None:
    path = _expected(tmp)
    os.chown(path, 65534, 65534)
    with pytest.raises(AuthenticationError, match="another"):
        _control_dir("/agent.sock", "/known_hosts")


def test_xdg_runtime_dir_when_it_is_ours_and_private(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = tmp / "r"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    path = Path(_control_dir("/agent.sock", "/known_hosts"))
    assert path.parent == runtime and stat.S_IMODE(os.lstat(path).st_mode) == 0o700
    runtime.chmod(0o755)  # not private: not used
    assert Path(_control_dir("/agent.sock", "/known_hosts")).parent == tmp
    long = tmp / ("r" * 80)
    long.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(long))  # too long for ssh's socket path: not used
    assert Path(_control_dir("/agent.sock", "/known_hosts")).parent == tmp


def test_the_control_path_fits_a_unix_socket(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long = tmp / ("t" * 80)
    long.mkdir(mode=0o700)
    monkeypatch.setattr(tempfile, "tempdir", str(long))
    path = _control_dir("/agent.sock", "/known_hosts")
    # ssh binds "<ControlPath>.<16 random characters>" first; %C is 40 hex characters.
    assert len(os.fsencode(path)) + 1 + 40 + 17 <= 104
    assert Path(path).parent == Path("/tmp")


def test_the_provider_refuses_a_bad_folder(tmp: Path) -> None:
    sock = tmp / "agent.sock"
    sock.write_text("")
    settings = LinuxSettings(provider="linux", inventory="/inv.yml", ssh_auth_sock=str(sock), known_hosts="/kh")
    env = asyncio.run(LinuxProvider().credentials_env(settings))
    control = next(p for p in env["ANSIBLE_SSH_COMMON_ARGS"].split() if p.startswith("ControlPath="))
    folder = Path(control.removeprefix("ControlPath=")).parent
    folder.chmod(0o777)
    with pytest.raises(AuthenticationError):
        asyncio.run(LinuxProvider().credentials_env(settings))
