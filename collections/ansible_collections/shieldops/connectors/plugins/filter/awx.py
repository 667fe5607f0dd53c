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
    if "filters" in given:
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
            "survey_request": survey_request,
            "destructive_action_types": destructive_action_types,
        }
