"""A CLI command relayed to the per-user warm server must not import the facade: that is most of its start-up."""

from __future__ import annotations

import subprocess
import sys

import shieldops_ansible
from shieldops_ansible.engines import warm


def test_the_cli_and_the_relay_import_neither_pydantic_nor_the_facade() -> None:
    probe = (
        "import sys, shieldops_ansible.cli, shieldops_ansible.engines.warm.cli_relay\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'pydantic', 'yaml', 'asyncio', 'ansible'}\n"
        "               or m in {'shieldops_ansible.connector', 'shieldops_ansible.models'})\n"
        "print(heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_public_name_resolves() -> None:
    for package in (shieldops_ansible, warm):
        for name in package.__all__:
            assert getattr(package, name) is not None, name
    assert shieldops_ansible.connect.__module__ == "shieldops_ansible.connector"
