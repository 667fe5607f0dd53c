"""The program ansible-runner starts instead of ansible-playbook: adds the secrets from the FIFO, then execs.

Kept tiny and import-light: it runs once per call before Ansible does.
"""

from __future__ import annotations

import json
import os
import sys

__all__ = ["main"]


def main() -> None:
    env = dict(os.environ)
    fifo = env.pop("SHIELDOPS_SECRETS_FIFO", None)
    if fifo:
        with open(fifo, "rb") as handle:
            env.update(json.loads(handle.read() or b"{}"))
    playbook_bin = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    os.execve(playbook_bin, [playbook_bin, *sys.argv[1:]], env)


if __name__ == "__main__":
    main()
