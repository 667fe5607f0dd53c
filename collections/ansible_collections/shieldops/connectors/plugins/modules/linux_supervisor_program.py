#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: linux_supervisor_program
short_description: Start, stop or restart one supervisord program over supervisord's unix socket
description:
  - Asks supervisord itself (XML-RPC over the unix socket that the [supervisorctl] section's serverurl names, as
    supervisorctl does) for the program's state and starts, stops or restarts that program only, waiting as
    supervisorctl does (a restart is a stop, when running, then a start).
  - Unlike community.general.supervisorctl, it never runs C(supervisorctl update): a restart of one program does
    not apply edited definitions of others (which would restart, add or remove them) on the side.
  - A server on an inet socket or one the [supervisorctl] section gives credentials for is not handled
    (C(unsupported=true) in the result); the role uses community.general.supervisorctl for those.
  - The action plugin of the same name runs this module's code with the host's Python directly where the
    inventory names it (no AnsiballZ payload).
options:
  name:
    description: The program's name, as supervisorctl status lists it (C(group:name) for a program of a group).
    type: str
    required: true
  state:
    description: What the program should be; C(restarted) always restarts it.
    type: str
    required: true
    choices: [started, stopped, restarted]
  config:
    description: supervisord's configuration file (the [supervisorctl] section's serverurl is read from it).
    type: path
    required: true
notes:
  - Supports check mode (reports what would change, changes nothing).
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Restart a program
  shieldops.connectors.linux_supervisor_program:
    name: web
    state: restarted
    config: /etc/supervisor/supervisord.conf
  delegate_to: web-1
"""

RETURN = r"""
before:
  description: The program's state before (supervisord's statename).
  returned: success
  type: str
unsupported:
  description: True when the configuration names a server this module does not talk to.
  returned: when it does not
  type: bool
"""

import configparser
import os
import socket

# Standard library only at the top: see plugin_utils/direct_module.py (main() imports AnsibleModule itself).

_RUNNING = ("RUNNING", "STARTING")
# supervisorctl's words for supervisord's faults (its own messages read "NAME: ERROR (WORDS)").
_FAULT_WORDS = {"BAD_NAME": "no such process"}


class _Refused(Exception):
    pass


def _socket_path(config):
    parser = configparser.RawConfigParser(strict=False, inline_comment_prefixes=(";",))
    if not parser.read(config):
        raise _Refused(f"cannot read {config}")
    try:
        url = parser.get("supervisorctl", "serverurl")
    except (configparser.Error, KeyError):
        return None
    url = url.replace("%(here)s", os.path.dirname(os.path.abspath(config)))
    if "%(" in url or not url.startswith("unix://") or parser.has_option("supervisorctl", "username"):
        return None
    return url[len("unix://"):]


def _client(path):
    import http.client
    import xmlrpc.client

    class Connection(http.client.HTTPConnection):
        def connect(self):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(120)  # a start waits for startsecs, a stop for stopwaitsecs
            self.sock.connect(path)

    class Transport(xmlrpc.client.Transport):
        def make_connection(self, host):
            return Connection("localhost")

    return xmlrpc.client.ServerProxy("http://localhost", transport=Transport()).supervisor, xmlrpc.client.Fault


def run(args):
    """{"changed", "before"} or {"failed", "msg"} (with "unsupported" for a server this module does not talk to)."""
    name, state, check = args["name"], args["state"], bool(args.get("_check_mode"))
    try:
        path = _socket_path(os.path.expanduser(os.path.expandvars(str(args["config"]))))
    except _Refused as error:
        return {"failed": True, "msg": str(error)}
    if path is None:
        refusal = "supervisord's serverurl is not a unix socket without credentials"
        return {"failed": True, "unsupported": True, "msg": refusal}
    supervisor, fault = _client(path)
    try:
        before = supervisor.getProcessInfo(name)["statename"]
        running = before in _RUNNING
        steps = {"started": [] if running else ["start"], "stopped": ["stop"] if running else [],
                 "restarted": (["stop"] if running else []) + ["start"]}[state]
        if not check:
            for step in steps:
                (supervisor.stopProcess if step == "stop" else supervisor.startProcess)(name, True)
    except fault as error:
        code = str(error.faultString).split(":", 1)[0]
        words = _FAULT_WORDS.get(code, code.lower().replace("_", " "))
        return {"failed": True, "msg": f"{name}: ERROR ({words})", "fault": error.faultString}
    except OSError as error:
        return {"failed": True, "msg": f"cannot reach supervisord at {path}: {error}"}
    return {"changed": bool(steps), "before": before}


def main():
    from ansible.module_utils.basic import AnsibleModule

    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            state=dict(type="str", required=True, choices=["started", "stopped", "restarted"]),
            config=dict(type="path", required=True),
        ),
        supports_check_mode=True,
    )
    result = run(dict(module.params, _check_mode=module.check_mode))
    if result.get("failed"):
        module.fail_json(**{k: v for k, v in result.items() if k != "failed"})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
