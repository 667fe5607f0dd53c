#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: linux_service_managers_info
short_description: Find a host's service managers and read supervisord's programs, in one remote task
description:
  - Says whether systemd runs the host (the check C(sd_booted) makes, as the C(service_mgr) fact does) and, when
    the supervisord configuration file exists, runs C(supervisorctl -c CONFIG status).
  - One task where the roles ran three (C(setup), C(stat), C(command)): every remote task is an SSH session, a
    Python start and an AnsiballZ payload on the host.
  - The systemd units themselves are still read by M(ansible.builtin.service_facts).
options:
  supervisor_config:
    description: Path of supervisord's configuration file on the host.
    type: path
    required: true
  supervisorctl_path:
    description: The supervisorctl program (a name looked up in PATH, or a path).
    type: str
    default: supervisorctl
notes:
  - Reads only; supports check mode.
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: Find the host's service managers
  shieldops.connectors.linux_service_managers_info:
    supervisor_config: /etc/supervisor/supervisord.conf
  register: managers
"""

RETURN = r"""
service_mgr:
  description: C(systemd) when systemd runs the host, else C(other).
  returned: always
  type: str
supervisor:
  description: What supervisord said, when its configuration file exists.
  returned: always
  type: dict
  contains:
    config:
      description: The configuration file looked for.
      type: str
    found:
      description: Whether it exists.
      type: bool
    rc:
      description: supervisorctl's exit code (3 when some program is not running), or null when not run.
      type: int
    stdout:
      description: supervisorctl's output.
      type: str
    stderr:
      description: supervisorctl's error output.
      type: str
"""

import os

from ansible.module_utils.basic import AnsibleModule

# Where sd_booted(3) looks: the directory systemd creates at boot.
_SYSTEMD_RUNTIME_DIRS = ("/run/systemd/system/", "/dev/.run/systemd/", "/dev/.systemd/")


def _service_mgr(module):
    if module.get_bin_path("systemctl") and any(os.path.isdir(d) for d in _SYSTEMD_RUNTIME_DIRS):
        return "systemd"
    return "other"


def main():
    module = AnsibleModule(
        argument_spec=dict(
            supervisor_config=dict(type="path", required=True),
            supervisorctl_path=dict(type="str", default="supervisorctl"),
        ),
        supports_check_mode=True,
    )
    config = module.params["supervisor_config"]
    supervisor = dict(config=config, found=os.path.isfile(config), rc=None, stdout="", stderr="")
    if supervisor["found"]:
        # An argv list: no shell sees the path (it comes from the inventory).
        rc, out, err = module.run_command([module.params["supervisorctl_path"], "-c", config, "status"])
        if rc not in (0, 3):  # 3: some program is not running, still a good answer
            module.fail_json(msg=f"supervisorctl status failed (rc {rc}): {err.strip() or out.strip()}", rc=rc)
        supervisor.update(rc=rc, stdout=out, stderr=err)
    module.exit_json(changed=False, service_mgr=_service_mgr(module), supervisor=supervisor)


if __name__ == "__main__":
    main()
