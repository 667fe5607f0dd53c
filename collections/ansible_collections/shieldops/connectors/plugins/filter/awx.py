# -*- coding: utf-8 -*-
"""AWX and EDA: from the operation role's survey entry points to AWX surveys, and from a survey's answers to the
request the playbooks take.

The entry points (roles/operation/meta/argument_specs.yml, survey_<operation>) are the one definition of what each
job template asks: playbooks/awx/configure.yml makes the surveys from them with awx_survey, and Ansible validates
a job's answers against them when playbooks/awx/<operation>.yml starts.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from ansible.errors import AnsibleFilterError

DOCUMENTATION = ""

SURVEY_PREFIX = "shieldops_request_"
# An argument spec's type, as the AWX survey question that asks for it (AWX's question types: text, textarea,
# password, integer, float, multiplechoice, multiselect). A dict is asked for as a JSON object in a textarea.
QUESTION_TYPES = {"str": "text", "int": "integer", "dict": "textarea"}
MAX_EVENT_MINUTES = 10080


def _label(variable):
    words = variable[len(SURVEY_PREFIX):].replace("_", " ")
    return words[:1].upper() + words[1:]


def awx_survey(argument_specs, operation, name=None, leave_out=()):
    """The AWX survey spec (name, description, spec: the questions) for the operation's survey entry point;
    ``leave_out``: variables a workflow sets itself (its action type)."""
    entry = argument_specs.get("argument_specs", argument_specs).get("survey_" + operation)
    if entry is None:
        raise AnsibleFilterError("no survey entry point for %r" % (operation,))
    questions = []
    for variable, option in entry["options"].items():
        if variable in leave_out:
            continue
        kind = option.get("type", "str")
        if kind not in QUESTION_TYPES:
            raise AnsibleFilterError("%s: type %s has no survey question type" % (variable, kind))
        description = option["description"]
        question = {
            "variable": variable,
            "question_name": _label(variable),
            "question_description": description if isinstance(description, str) else " ".join(description),
            "required": bool(option.get("required", False)),
            "type": "multiplechoice" if option.get("choices") else QUESTION_TYPES[kind],
        }
        if option.get("choices"):
            question["choices"] = [str(choice) for choice in option["choices"]]
        if kind == "int" and variable == SURVEY_PREFIX + "minutes":
            question.update(min=1, max=MAX_EVENT_MINUTES)
        if "default" in option:
            default = option["default"]
            question["default"] = json.dumps(default) if kind == "dict" else default
        questions.append(question)
    return {
        "name": name or "ShieldOps %s" % operation,
        "description": entry.get("short_description", ""),
        "spec": questions,
    }


def job_template_name(operation, job_type="run"):
    """The AWX job template of an operation: "ShieldOps get_health"; the check-mode one "... (dry run)"."""
    return "ShieldOps %s%s" % (operation, " (dry run)" if job_type == "check" else "")


def approval_workflow_name(action_type):
    """The AWX workflow of one destructive action type: "ShieldOps scale (approved)"."""
    return "ShieldOps %s (approved)" % action_type


def awx_job_template(operation, argument_specs, job_type="run"):
    """The AWX job template of an operation: name, description, playbook (playbooks/awx/<operation>.yml), job
    type (check: a dry run of every action) and survey."""
    name = job_template_name(operation, job_type)
    survey = awx_survey(argument_specs, operation, name=name)
    return {
        "name": name,
        "description": survey["description"] + (" (check mode: a dry run)" if job_type == "check" else ""),
        "playbook": "playbooks/awx/%s.yml" % operation,
        "job_type": job_type,
        "survey_spec": survey,
    }


def awx_approval_workflow(action_type, argument_specs, organization="Default", timeout=3600):
    """The AWX workflow of one destructive action type: its dry run (the check-mode execute_action template, whose
    output shows the diff), then an approval node, then the action (which snapshots first under the policy's
    require_snapshot). The workflow sets the action type; its survey asks for the rest."""
    name = approval_workflow_name(action_type)
    survey = awx_survey(argument_specs, "execute_action", name=name, leave_out=(SURVEY_PREFIX + "action_type",))
    organization = {"name": organization}
    return {
        "name": name,
        "description": "%s after its dry run and an approval" % action_type,
        "extra_vars": {SURVEY_PREFIX + "action_type": action_type},
        "survey_spec": survey,
        "workflow_nodes": [
            {"identifier": "dry-run",
             "unified_job_template": {"name": job_template_name("execute_action", "check"), "type": "job_template",
                                      "organization": organization},
             "related": {"success_nodes": [{"identifier": "approve"}]}},
            {"identifier": "approve",
             "unified_job_template": {"name": "Approve %s" % action_type, "type": "workflow_approval",
                                      "description": "Read the dry run's diff, then approve or deny the %s"
                                      % action_type, "timeout": int(timeout)},
             "related": {"success_nodes": [{"identifier": "act"}]}},
            {"identifier": "act",
             "unified_job_template": {"name": job_template_name("execute_action"), "type": "job_template",
                                      "organization": organization}},
        ],
    }


def awx_inventory_sources(paths):
    """An inventory source per inventory file of the project (inventories/<folder>/<file>), named by its folder:
    name, folder and source_path (relative to the project), sorted."""
    sources = []
    for path in sorted(paths):
        parts = path.replace("\\", "/").split("/")
        if len(parts) >= 3 and parts[-3] == "inventories":
            sources.append({"name": "ShieldOps %s" % parts[-2], "folder": parts[-2],
                            "source_path": "/".join(parts[-3:])})
    return sources


def _json_object(value, field):
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value)
    except (TypeError, ValueError):
        parsed = None
    if not isinstance(parsed, dict):
        raise AnsibleFilterError("invalid_request: %s must be a JSON object" % field)
    return parsed


def survey_request(answers, operation, provider):
    """The shieldops_request of a survey's answers (variable -> answer; an empty answer is unset) for
    the operation, in the environment's provider. The answers stay data: nothing here templates them."""
    given = {key[len(SURVEY_PREFIX):]: value for key, value in dict(answers).items()
             if key.startswith(SURVEY_PREFIX) and value not in (None, "")}
    request = {"provider": provider, "environment": given.pop("environment", None)}
    if not request["environment"]:
        raise AnsibleFilterError("invalid_request: the survey names no environment")
    if operation == "execute_action":
        action = {
            "type": given.pop("action_type", None),
            "resource_id": given.pop("resource_id", None),
            "parameters": _json_object(given.pop("action_parameters", {}), "action_parameters"),
        }
        reason = given.pop("action_reason", None)
        if reason:
            action["reason"] = reason
        request["action"] = action
    elif operation == "get_events":
        try:
            minutes = int(given.pop("minutes", 60))
        except (TypeError, ValueError):
            minutes = 0
        if not 1 <= minutes <= MAX_EVENT_MINUTES:
            raise AnsibleFilterError("invalid_request: minutes must be 1 to %d" % MAX_EVENT_MINUTES)
        end = datetime.now(timezone.utc).replace(microsecond=0)
        request.update(start=(end - timedelta(minutes=minutes)).isoformat(), end=end.isoformat())
    if operation == "list_resources" and "filters" in given:
        request["filters"] = _json_object(given.pop("filters"), "filters")
    for key in ("resource_id", "resource_type", "snapshot_id"):
        if key in given:
            request[key] = given.pop(key)
    if given:
        raise AnsibleFilterError("invalid_request: %s takes no %s" % (operation, ", ".join(sorted(given))))
    return request


def destructive_action_types(vocabularies):
    """The destructive action types of the providers' vocabularies (each role's vars/main.yml), sorted."""
    found = set()
    for vocabulary in vocabularies:
        for native in vocabulary["shieldops_capabilities"]["native_types"].values():
            found.update(name for name, spec in (native.get("actions") or {}).items() if (spec or {}).get("destructive"))
    return sorted(found)


class FilterModule(object):
    def filters(self):
        return {
            "awx_survey": awx_survey,
            "awx_job_template": awx_job_template,
            "awx_approval_workflow": awx_approval_workflow,
            "awx_inventory_sources": awx_inventory_sources,
            "survey_request": survey_request,
            "destructive_action_types": destructive_action_types,
        }
