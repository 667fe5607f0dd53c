#!/usr/bin/python
# -*- coding: utf-8 -*-
from __future__ import annotations

DOCUMENTATION = r"""
module: gcp_logging_entries_info
short_description: Cloud Logging audit entries (admin activity, system events) about one resource
description:
  - entries:list over the project's Cloud Audit Logs, for one resource name and a time range, oldest first.
options:
  resource_name:
    description: The resource's name in the audit log (C(projects/P/zones/Z/instances/N)).
    type: str
    required: true
  start:
    description: RFC 3339 start of the range.
    type: str
    required: true
  end:
    description: RFC 3339 end of the range.
    type: str
    required: true
  logs:
    description: Which audit logs.
    type: list
    elements: str
    default: [activity, system_event]
    choices: [activity, system_event, data_access, policy]
  limit:
    description: At most this many entries.
    type: int
    default: 500
extends_documentation_fragment:
  - shieldops.connectors.gcp
author: shieldops-ansible developers
"""

EXAMPLES = r"""
- name: What happened to an instance in the last hour
  shieldops.connectors.gcp_logging_entries_info:
    resource_name: projects/acme/zones/europe-west1-b/instances/web-1
    start: "2026-12-01T10:00:00Z"
    end: "2026-12-01T11:00:00Z"
"""

RETURN = r"""
entries:
  description: LogEntry documents as Cloud Logging returns them.
  returned: always
  type: list
  elements: dict
"""

from ansible_collections.shieldops.connectors.plugins.module_utils import gcp_service


def _job(api, p, check_mode):
    return {"entries": gcp_service.log_entries(api, p["resource_name"], p["start"], p["end"], p["logs"], p["limit"])}


def main():
    gcp_service.run_module(
        _job,
        resource_name=dict(type="str", required=True),
        start=dict(type="str", required=True),
        end=dict(type="str", required=True),
        logs=dict(type="list", elements="str", default=["activity", "system_event"],
                  choices=["activity", "system_event", "data_access", "policy"]),
        limit=dict(type="int", default=500),
    )


if __name__ == "__main__":
    main()
