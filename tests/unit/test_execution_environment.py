"""The execution environment for AWX (issue 19): `ansible-builder create` makes a build context that installs what a
job needs. (Building the image needs podman or docker, which CI lacks; the context is what is checked here.)"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from shieldops_ansible.paths import project_dir

# What a job does not need from pyproject's runtime dependencies: ansible-core and ansible-runner are the
# execution environment's own entries, the bundled collections come from collections/requirements.yml, and the
# MCP SDK serves only `shieldops-ansible mcp`.
_NOT_IN_A_JOB = {"ansible", "ansible-core", "ansible-runner", "mcp"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].strip().lower()


def _lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_the_requirements_are_the_packages_runtime_dependencies() -> None:
    runtime = tomllib.loads((project_dir() / "pyproject.toml").read_text())["project"]["dependencies"]
    wanted = {_name(r): r.replace(" ", "") for r in runtime if _name(r) not in _NOT_IN_A_JOB}
    requirements = project_dir() / "execution-environment" / "requirements.txt"
    listed = {_name(r): r.replace(" ", "") for r in _lines(requirements)}
    assert listed == wanted  # the same packages, with the same ranges


def test_ansible_builder_create_makes_a_context_with_everything_a_job_needs(tmp_path: Path) -> None:
    builder = Path(sys.executable).parent / "ansible-builder"
    context = tmp_path / "context"
    done = subprocess.run(
        [str(builder), "create", "-f", "execution-environment.yml", "-c", str(context)],
        cwd=project_dir(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    recipe = next(p for p in (context / "Containerfile", context / "Dockerfile") if p.exists()).read_text()
    base = re.search(r'ARG EE_BASE_IMAGE="([^"]+)"', recipe)
    assert base and ":" in base.group(1) and not base.group(1).endswith(":latest")  # pinned to a tag
    assert "ansible-core>=2.19,<2.20" in recipe
    build = context / "_build"
    collections = {c["name"] for c in yaml.safe_load((build / "requirements.yml").read_text())["collections"]}
    assert {"amazon.aws", "community.aws", "kubernetes.core", "google.cloud", "azure.azcollection"} <= collections
    python = {_name(r) for r in _lines(build / "requirements.txt")}
    assert {"boto3", "kubernetes", "google-auth", "pydantic"} <= python
    # Our collection and our package are in the context, and the recipe installs both.
    assert (build / "shieldops" / "collection" / "connectors" / "galaxy.yml").is_file()
    assert (build / "shieldops" / "collection" / "connectors" / "plugins" / "action" / "policy_check.py").is_file()
    assert (build / "shieldops" / "package" / "pyproject.toml").is_file()
    assert (build / "shieldops" / "package" / "shieldops_ansible" / "policy.py").is_file()
    assert "COPY _build/shieldops/collection /usr/share/ansible/collections/ansible_collections/shieldops" in recipe
    assert "pip install --no-cache-dir --no-deps /tmp/shieldops-package" in recipe
