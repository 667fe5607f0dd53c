"""The sandbox's backends are found through the provider registry: the manager names no provider, starts what a
registered provider offers, records it (with the samples cross-provider tests use), and stops it (also when a later
backend fails to start)."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import pytest
import yaml

from shieldops_ansible.providers import PROVIDER_TYPES, EnvironmentSettings, Provider, register
from shieldops_ansible.sandbox import backend as backend_module
from shieldops_ansible.sandbox import manager
from shieldops_ansible.sandbox.backend import MAIN_PROCESS, Samples, SandboxBackend, StartedBackend, alive, spawn


def test_every_provider_that_offers_a_backend_gives_one_of_the_protocol() -> None:
    offered = {}
    for name, provider in PROVIDER_TYPES.items():
        backend = provider.sandbox_backend()
        if backend is None:
            continue
        assert isinstance(backend, SandboxBackend)
        assert isinstance(backend.name, str) and backend.name
        offered[name] = backend.name
    # Ours each have one, named after their provider.
    assert {"aws": "aws", "kubernetes": "kubernetes", "linux": "linux"}.items() <= offered.items()
    assert [b.name for b in manager.found_backends()] == sorted(offered.values())


def test_each_backend_declares_its_sampled_environments_without_starting() -> None:
    declared: list[str] = []
    for backend in manager.found_backends():
        assert isinstance(backend.sampled_environments, tuple)
        assert all(isinstance(name, str) and name for name in backend.sampled_environments)
        declared += backend.sampled_environments
    assert len(declared) == len(set(declared))
    # Ours: each its provider's main environment, not the read-only twin.
    assert {"aws", "kubernetes", "linux"} <= set(declared)
    assert not any(name.endswith("-readonly") for name in declared)


def _our_samples(environment: str) -> Samples:
    """What our backends publish, without starting them (AWS's ids are the seeded ones: these are made up)."""
    from shieldops_ansible.providers.aws import sandbox as aws
    from shieldops_ansible.providers.azure import sandbox as azure
    from shieldops_ansible.providers.gcp import sandbox as gcp
    from shieldops_ansible.providers.kubernetes import sandbox as kubernetes
    from shieldops_ansible.providers.linux import sandbox as linux

    seeded = {
        "instance/web-2": "i-0abc123def4567890",
        "service/api": "arn:aws:ecs:us-east-1:123456789012:service/sandbox/api",
    }
    ours = {"aws": aws.samples(seeded), "azure": azure.SAMPLES, "gcp": gcp.SAMPLES, "kubernetes": kubernetes.SAMPLES}
    return (ours | {"linux": linux.SAMPLES})[environment]


@pytest.mark.parametrize("environment", ["aws", "azure", "gcp", "kubernetes", "linux"])
def test_our_samples_are_of_their_providers_vocabulary(environment: str) -> None:
    provider = PROVIDER_TYPES[environment]()
    backend = provider.sandbox_backend()
    assert backend is not None and environment in backend.sampled_environments
    samples = _our_samples(environment)
    assert Samples.__required_keys__ <= set(samples) <= Samples.__required_keys__ | Samples.__optional_keys__
    caps = provider.capabilities
    assert caps.native_type_of(samples["instance"]).common == "instance"
    # A service where the provider has one, else another common type (Azure: a function app).
    assert caps.native_type_of(samples["service"]).common in ({"service"} if environment != "azure" else {"function"})
    assert samples["missing"] not in (samples["instance"], samples["service"])
    caps.native_type_of(samples["missing"])  # of the grammar
    for key in ("dry_run_action", "live_action", "repeatable_action"):
        sample = samples[key]
        assert set(sample) == {"type", "resource_id", "parameters"}, key
        spec = caps.action(caps.native_type_of(sample["resource_id"]), sample["type"])
        assert spec.check_parameters(sample["parameters"]) == sample["parameters"], key
    assert samples["dry_run_action"]["resource_id"] == samples["instance"]
    # Secrets: names a run of the provider may receive, files inside the sandbox's folder.
    assert set(samples["secret_env"]) <= provider.run_env_names
    assert all(not Path(name).is_absolute() and ".." not in Path(name).parts for name in samples["secret_files"])
    json.dumps(samples)  # kept in sandbox.json


def test_the_manager_names_no_provider() -> None:
    for module in (manager, backend_module):
        source = Path(str(module.__file__)).read_text()
        found = re.findall(r"aws|kubernetes|linux|moto", source, flags=re.IGNORECASE)
        assert not found, f"{module.__name__} names {sorted(set(found))}"


def test_importing_the_providers_loads_no_sandbox_code() -> None:
    import subprocess

    code = (
        "import sys; from shieldops_ansible.providers import PROVIDER_TYPES; list(PROVIDER_TYPES.values()); "
        "print(sorted(m for m in sys.modules if m.startswith('shieldops_ansible') and 'sandbox' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class _FakeSettings(EnvironmentSettings):
    provider: Literal["fakesb"]


_FAKE_SAMPLES: Samples = {
    "instance": "box/1",
    "service": "svc/1",
    "missing": "box/0",
    "dry_run_action": {"type": "poke", "resource_id": "box/1", "parameters": {}},
    "live_action": {"type": "scale", "resource_id": "svc/1", "parameters": {"replicas": 3}},
    "repeatable_action": {"type": "scale", "resource_id": "svc/1", "parameters": {"replicas": 2}},
    "secret_env": ["FAKESB_TOKEN"],
    "secret_files": ["fakesb/token"],
}


class _FakeBackend:
    name = "fakesb"
    sampled_environments: tuple[str, ...] = ("fakesb",)

    def __init__(self) -> None:
        self.stopped: list[dict[str, Any]] = []

    def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
        proc = spawn(["sleep", "60"], directory / "logs" / "fakesb.log")
        helper = spawn(["sleep", "60"], directory / "logs" / "fakesb.log")
        log(f"fakesb: sleeping as {proc.pid}")
        return StartedBackend(
            processes={MAIN_PROCESS: {"pid": proc.pid, "port": 1}, "helper": {"pid": helper.pid}},
            environments={"fakesb": {"provider": "fakesb"}, "fakesb-readonly": {"provider": "fakesb"}},
            resources={"thing": "id-1"},
            state={"fakesb": {"made": ["a", "b"]}},
            samples={"fakesb": _FAKE_SAMPLES},
        )

    def stop(self, state: Mapping[str, Any]) -> None:
        self.stopped.append(dict(state))


class _FailingBackend:
    name = "zfail"
    sampled_environments = ()

    def __init__(self) -> None:
        self.stopped = 0

    def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
        raise RuntimeError("cannot start")

    def stop(self, state: Mapping[str, Any]) -> None:
        self.stopped += 1


_BACKEND = _FakeBackend()


class _FakeProvider(Provider):
    name = "fakesb"
    settings_model = _FakeSettings

    @classmethod
    def sandbox_backend(cls) -> SandboxBackend:
        return _BACKEND


@pytest.fixture
def fake() -> Iterator[_FakeBackend]:
    register(_FakeProvider)
    _BACKEND.stopped.clear()
    try:
        yield _BACKEND
    finally:
        PROVIDER_TYPES.unregister("fakesb")
    assert "fakesb" not in PROVIDER_TYPES


def _registered(name: str) -> SandboxBackend:
    backend = PROVIDER_TYPES[name].sandbox_backend()
    assert backend is not None
    return backend


def test_the_environments_of_a_registered_backend_are_those_the_safety_tests_cover(fake: _FakeBackend) -> None:
    from tests.support import sampled_environments

    assert "fakesb" in sampled_environments()
    assert "fakesb-readonly" not in sampled_environments()


def test_up_status_down_with_a_registered_backend(fake: _FakeBackend, tmp_path: Path) -> None:
    assert "fakesb" in [b.name for b in manager.found_backends()]
    lines: list[str] = []
    directory = tmp_path / "sb"
    config_path = manager.up(directory, log=lines.append, backends=[_registered("fakesb")])
    try:
        config = yaml.safe_load(config_path.read_text())
        assert config == {
            "state_dir": str(directory / "state"),
            "snapshot_key_file": str(directory / "keys" / "snapshot.key"),
            "environments": {"fakesb": {"provider": "fakesb"}, "fakesb-readonly": {"provider": "fakesb"}},
        }
        assert len(lines) == 1 and lines[0].startswith("fakesb: sleeping as ")
        state = json.loads((directory / "sandbox.json").read_text())
        assert state["fakesb"] == {"made": ["a", "b"]} and state["resources"] == {"fakesb": {"thing": "id-1"}}
        assert state["samples"] == {"fakesb": _FAKE_SAMPLES}
        info = manager.status(directory)
        assert info["running"] and set(info["backends"]) == {"fakesb", "fakesb/helper"}
        assert info["backends"]["fakesb"]["port"] == 1 and info["config"] == str(config_path)
        pids = [b["pid"] for b in info["backends"].values()]
        assert all(alive(pid) for pid in pids)
        # Up again while it runs: nothing new is started.
        assert manager.up(directory, backends=[fake]) == config_path
        assert manager.status(directory)["backends"]["fakesb"]["pid"] == pids[0]
    finally:
        stopped = manager.down(directory, backends=[fake])
    assert sorted(stopped) == ["fakesb", "fakesb/helper"]
    assert not any(alive(pid) for pid in pids)
    assert len(fake.stopped) == 1 and fake.stopped[0]["fakesb"] == {"made": ["a", "b"]}
    assert not (directory / "sandbox.json").exists()
    assert manager.status(directory) == {"running": False, "backends": {}}
    assert manager.down(directory, backends=[fake]) == []


def test_a_backend_that_fails_to_start_stops_those_started_before(fake: _FakeBackend, tmp_path: Path) -> None:
    failing = _FailingBackend()
    lines: list[str] = []
    with pytest.raises(RuntimeError, match="cannot start"):
        manager.up(tmp_path, log=lines.append, backends=[fake, failing])
    pid = int(lines[0].rsplit(" ", 1)[1])
    assert not alive(pid)
    assert fake.stopped == [{"fakesb": {"made": ["a", "b"]}}]
    assert failing.stopped == 0  # it cleans up after itself
    assert not (tmp_path / "sandbox.json").exists() and not (tmp_path / "shieldops.yaml").exists()


def test_two_backends_giving_one_environment_are_refused(fake: _FakeBackend, tmp_path: Path) -> None:
    class Twin(_FakeBackend):
        name = "twin"

    twin = Twin()
    lines: list[str] = []
    with pytest.raises(manager.SandboxError, match="environment 'fakesb'"):
        manager.up(tmp_path, log=lines.append, backends=[fake, twin])
    assert not any(alive(int(line.rsplit(" ", 1)[1])) for line in lines)
    assert len(fake.stopped) == 1 and len(twin.stopped) == 1


@pytest.mark.parametrize(
    "sampled",
    [
        pytest.param(("fakesb", "fakesb-readonly"), id="declared-but-not-given"),
        pytest.param((), id="given-but-not-declared"),
    ],
)
def test_samples_other_than_declared_are_refused(fake: _FakeBackend, tmp_path: Path, sampled: tuple[str, ...]) -> None:
    class Undeclared(_FakeBackend):
        sampled_environments = sampled

    backend = Undeclared()
    lines: list[str] = []
    with pytest.raises(manager.SandboxError, match="declares samples of"):
        manager.up(tmp_path, log=lines.append, backends=[backend])
    assert not alive(int(lines[0].rsplit(" ", 1)[1]))
    assert len(backend.stopped) == 1
    assert not (tmp_path / "sandbox.json").exists()


def test_samples_of_an_environment_the_backend_does_not_give_are_refused(fake: _FakeBackend, tmp_path: Path) -> None:
    class Elsewhere(_FakeBackend):
        sampled_environments = ("fakesb", "other")

        def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
            started = super().start(directory, log)
            started.samples["other"] = _FAKE_SAMPLES
            return started

    with pytest.raises(manager.SandboxError, match="environments \\['fakesb', 'fakesb-readonly'\\]"):
        manager.up(tmp_path, backends=[Elsewhere()])


def test_down_of_a_sandbox_started_before_backends_were_found(tmp_path: Path) -> None:
    """The state file's format is what it was: a sandbox of the older manager still stops, network and all."""
    proc = spawn(["sleep", "60"], tmp_path / "old.log")
    state = {
        "processes": {"web/sshd": {"pid": proc.pid}},
        "network": {"netns": ["old-ns"], "links": ["old-link"]},
        "resources": {},
        "config": str(tmp_path / "shieldops.yaml"),
    }
    (tmp_path / "sandbox.json").write_text(json.dumps(state))
    seen: list[Mapping[str, Any]] = []

    class Networked:
        name = "networked"
        sampled_environments = ()

        def start(self, directory: Path, log: Callable[[str], None]) -> StartedBackend:
            raise AssertionError("not started")

        def stop(self, state: Mapping[str, Any]) -> None:
            seen.append(state["network"])

    assert manager.down(tmp_path, backends=[Networked()]) == ["web/sshd"]
    assert not alive(proc.pid)
    assert seen == [{"netns": ["old-ns"], "links": ["old-link"]}]
