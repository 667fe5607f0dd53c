"""A CLI command relayed to the per-user warm server must not import the facade (that is most of its start-up), and
what the relay carries arrives whole."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading

import pytest

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


def test_a_relayed_output_of_megabytes_arrives_whole(capsys: pytest.CaptureFixture[str]) -> None:
    """A 10,000-resource listing is one print of megabytes: it travels in pieces the client's bounded reader takes."""
    from shieldops_ansible.engines.warm import cli_relay

    text = json.dumps([{"id": f"i-{n:08d}", "name": "\u00e9\"\\\n" * 3} for n in range(40_000)], indent=2)
    assert len(text) > 3 * (1 << 20)
    server_side, client_side = socket.socketpair()
    server_side.settimeout(10)  # a client that stops reading fails the test instead of hanging it
    with server_side, client_side:

        def send() -> None:
            with contextlib.suppress(OSError):
                cli_relay._Stream(server_side, "stdout", threading.Lock()).write(text)
                server_side.sendall(b'{"event": "cli_exit", "rc": 0}\n')

        sender = threading.Thread(target=send)
        sender.start()
        rc = cli_relay._answer(client_side, client_side.makefile("rb"))
        sender.join()
    assert rc == 0
    assert capsys.readouterr().out == text
