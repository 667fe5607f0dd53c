"""The provider roles' argument specs are generated from the settings models (shieldops_ansible.argument_specs):
the committed files are the generator's output, ansible-doc reads them, and Ansible's own validator accepts the
settings a provider passes and refuses what the model refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible import argument_specs
from shieldops_ansible.paths import ansible_cfg, project_dir
from shieldops_ansible.providers import PROVIDER_TYPES

BIN = Path(sys.executable).parent
# Settings as the sandbox writes them (see each provider's sandbox.py), and the fewest a model accepts.
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "aws": [
        {
            "provider": "aws",
            "region": "us-east-1",
            "endpoint_url": "http://127.0.0.1:5000",
            "role_arn": "arn:aws:iam::123456789012:role/shieldops-agent",
            "profile": "sandbox",
            "credentials_file": "/tmp/sandbox/aws/credentials",
        },
        {"provider": "aws", "region": "eu-west-1"},
    ],
    "azure": [
        {
            "provider": "azure",
            "subscription_id": "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6",
            "auth": "managed_identity",
            "client_id": "0a1b2c3d-0000-4000-8000-00000000a001",
            "identity_endpoint": "http://127.0.0.1:8080",
            "https_proxy": "http://127.0.0.1:8443",
            "ca_file": "/tmp/sandbox/azure/test-ca.pem",
        },
        {
            "provider": "azure",
            "subscription_id": "00000000-0000-0000-0000-000000000000",
            "resource_groups": ["rg-web", "rg-functions"],
            "auth": "workload_identity",
            "client_id": "0a1b2c3d-0000-4000-8000-00000000a003",
            "tenant_id": "5f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5",
            "federated_token_file": "/var/run/secrets/azure/tokens/azure-identity-token",
        },
        {"provider": "azure", "subscription_id": "00000000-0000-0000-0000-000000000000"},
    ],
    "gcp": [
        {
            "provider": "gcp",
            "project": "shieldops-sandbox",
            "credentials_file": "/tmp/sandbox/gcp/agent-wif.json",
            "zones": ["europe-west1-b", "europe-west1-c"],
            "regions": ["europe-west1"],
            "https_proxy": "http://127.0.0.1:8443",
            "ca_file": "/tmp/sandbox/gcp/test-ca.pem",
        },
        {"provider": "gcp", "project": "acme-prod", "credentials_file": "/etc/shieldops/wif.json"},
    ],
    "kubernetes": [
        {
            "provider": "kubernetes",
            "server": "https://127.0.0.1:6443",
            "ca_file": "/tmp/sandbox/kubernetes/ca.pem",
            "token_file": "/tmp/sandbox/kubernetes/agent.token",
            "cluster_name": "sandbox",
            "namespaces": ["default", "shop"],
        },
        {"provider": "kubernetes", "kubeconfig": "/tmp/kubeconfig"},
    ],
    "linux": [
        {
            "provider": "linux",
            "inventory": "/tmp/sandbox/linux/inventory.yml",
            "known_hosts": "/tmp/sandbox/linux/known_hosts",
            "ssh_auth_sock": "/tmp/sandbox/linux/agent.sock",
            "thresholds": {"load_per_core": {"degraded": 2, "unhealthy": 5.5}},
        },
        {"provider": "linux", "inventory": "/tmp/inventory.yml"},
    ],
}
# A value of each type that Ansible's type check refuses. A str option takes anything (Ansible converts it), so
# only the model can refuse a wrong type there.
WRONG: dict[str, Any] = {
    "int": "not a number",
    "float": "not a number",
    "bool": "not a boolean",
    "dict": ["not", "a", "dict"],
    "list": {"not": "a list"},
}


def _spec_file(provider: str) -> dict[str, Any]:
    path = next(f.path for f in argument_specs.spec_files() if f.provider == provider)
    loaded: dict[str, Any] = yaml.safe_load(path.read_text())
    return loaded


def _role_settings(provider: str) -> list[dict[str, Any]]:
    cls = PROVIDER_TYPES[provider]
    return [cls().parse_settings(raw, f"sample {provider}").role_settings() for raw in SAMPLES[provider]]


def test_every_provider_has_a_generated_spec_and_samples() -> None:
    files = argument_specs.spec_files()
    assert [f.provider for f in files] == sorted(PROVIDER_TYPES) == sorted(SAMPLES)


def test_committed_specs_are_what_the_generator_writes() -> None:
    stale = argument_specs.stale(argument_specs.spec_files())
    assert not stale, f"stale argument specs, run `{argument_specs.COMMAND}` (make specs): {stale}"
    for f in argument_specs.spec_files():
        assert f.text.startswith("# Generated ") and argument_specs.COMMAND in f.text.split("---", 1)[0]


def test_check_names_a_stale_file() -> None:
    files = argument_specs.spec_files()
    edited = [replace(files[0], text=files[0].text + "# edited\n"), *files[1:]]
    assert argument_specs.stale(edited) == [files[0].path]
    proc = subprocess.run(
        [sys.executable, "-m", "shieldops_ansible.argument_specs", "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert (proc.returncode, proc.stderr) == (0, "")


@pytest.mark.parametrize("provider", sorted(PROVIDER_TYPES))
def test_spec_declares_only_the_role_settings(provider: str) -> None:
    model = PROVIDER_TYPES[provider].settings_model
    entry_points = _spec_file(provider)["argument_specs"]
    assert list(entry_points) == ["main"]
    options = entry_points["main"]["options"]
    assert list(options) == ["shieldops_settings"], "the request envelope belongs to the operation role's spec"
    declared = set(options["shieldops_settings"]["options"])
    for settings in _role_settings(provider):
        assert set(settings) <= declared
    assert declared == set(argument_specs.role_fields(model))
    assert not declared & {"provider", "engine", "policy"}


def test_ansible_doc_reads_each_spec() -> None:
    roles = {PROVIDER_TYPES[name].role(): name for name in sorted(PROVIDER_TYPES)}
    proc = subprocess.run(
        [str(BIN / "ansible-doc"), "-t", "role", "-j", *roles],
        cwd=project_dir(),
        env={**os.environ, "ANSIBLE_CONFIG": str(ansible_cfg()), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    docs = json.loads(proc.stdout)
    assert set(docs) == set(roles)
    for role, provider in roles.items():
        main = docs[role]["entry_points"]["main"]
        settings = main["options"]["shieldops_settings"]["options"]
        assert set(settings) == set(argument_specs.role_fields(PROVIDER_TYPES[provider].settings_model))
        assert all(option.get("description") for option in settings.values())


PLAYBOOK = """\
- name: Validate settings against the generated specs
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Validate one case
      ansible.builtin.validate_argument_spec:
        argument_spec: "{{ item.spec }}"
        provided_arguments: "{{ item.arguments }}"
      loop: "{{ cases }}"
      loop_control:
        label: "{{ item.name }}"
      register: outcome
      ignore_errors: true

    - name: Write the outcomes
      ansible.builtin.copy:
        content: "{{ outcome.results | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def _wrong_types(options: dict[str, Any], settings: dict[str, Any], where: str = "") -> list[tuple[str, Any]]:
    """(name, settings) with one option of a checkable type given a value Ansible must refuse, each option."""
    cases = []
    for name, option in options.items():
        if option.get("type") in WRONG:
            cases.append((f"{where}{name}", {**settings, name: WRONG[option["type"]]}))
        if option.get("options") and option.get("type") == "dict":
            inner = settings.get(name) or {}
            for sub_name, sub in _wrong_types(option["options"], inner, f"{where}{name}."):
                cases.append((sub_name, {**settings, name: sub}))
    return cases


def test_validate_argument_spec_accepts_the_settings_and_refuses_unknown_keys_and_wrong_types(tmp_path: Path) -> None:
    cases: list[dict[str, Any]] = []
    for provider in sorted(PROVIDER_TYPES):
        spec = _spec_file(provider)["argument_specs"]["main"]["options"]
        options = spec["shieldops_settings"]["options"]
        samples = _role_settings(provider)

        def case(name: str, settings: Any, ok: bool, spec: dict[str, Any] = spec, provider: str = provider) -> None:
            cases.append(
                {"name": f"{provider}: {name}", "spec": spec, "arguments": {"shieldops_settings": settings}, "ok": ok}
            )

        for number, settings in enumerate(samples):
            case(f"sample {number}", settings, True)
        case("unknown key", {**samples[0], "shieldops_no_such_key": "x"}, False)
        case("not a dict", ["region", "x"], False)
        refusals = len(cases)
        for name, settings in _wrong_types(options, samples[0]):
            case(f"wrong type of {name}", settings, False)
        for name, option in options.items():
            if option.get("required"):
                case(f"without {name}", {k: v for k, v in samples[0].items() if k != name}, False)
        # At least one option Ansible can type-check, or a required one: else only the dict around them is tested.
        assert len(cases) > refusals, f"{provider}: no option-level refusal to check"
    out = tmp_path / "outcomes.json"
    (tmp_path / "validate.yml").write_text(PLAYBOOK)
    (tmp_path / "vars.json").write_text(json.dumps({"cases": cases, "out": str(out)}))
    proc = subprocess.run(
        [
            str(BIN / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            "-e",
            f"@{tmp_path / 'vars.json'}",
            str(tmp_path / "validate.yml"),
        ],
        cwd=project_dir(),
        env={**os.environ, "ANSIBLE_CONFIG": str(ansible_cfg()), "ANSIBLE_NOCOLOR": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    outcomes = json.loads(out.read_text())
    assert [o["item"]["name"] for o in outcomes] == [c["name"] for c in cases]
    wrong = [
        (c["name"], o.get("argument_errors"))
        for c, o in zip(cases, outcomes, strict=True)
        if bool(o.get("failed")) == c["ok"]
    ]
    assert not wrong, wrong
    unknown = [o for c, o in zip(cases, outcomes, strict=True) if c["name"].endswith(": unknown key")]
    assert unknown and all("shieldops_no_such_key" in " ".join(o["argument_errors"]) for o in unknown)
