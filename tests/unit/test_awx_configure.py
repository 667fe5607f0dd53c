"""playbooks/awx/configure.yml, in its plan mode (no AWX needed): the surveys it would create match the survey
entry points that validate the answers, each provider's credential type injects only its settings' keys, and
every destructive action type has its approval workflow."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from shieldops_ansible.paths import project_dir
from shieldops_ansible.providers import PROVIDER_TYPES
from shieldops_ansible.providers.base import Capabilities

OPERATIONS = ["get_health", "list_resources", "execute_action", "get_events", "create_snapshot", "rollback"]
SPECS = project_dir() / "collections/ansible_collections/shieldops/connectors/roles/operation/meta/argument_specs.yml"
# What an AWX survey question asks for an argument spec's type (AWX's question types), written here on its own.
QUESTION_TYPE = {"str": "text", "int": "integer", "dict": "textarea"}


@cache
def _plan() -> dict[str, Any]:
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "playbooks/awx/configure.yml",
            *("-e", "shieldops_awx_plan_only=true", "-e", f"ansible_python_interpreter={sys.executable}"),
        ],
        cwd=project_dir(),
        env=dict(os.environ) | {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-2000:])
    tasks = json.loads(proc.stdout)["plays"][0]["tasks"]
    shown = [t for t in tasks if t["task"]["name"] == "Show the plan"]
    assert [t["task"]["name"] for t in tasks if not t["hosts"]["localhost"].get("skipped")] == [
        "Find the providers' credential types and vocabularies",
        "Find the project's inventory files",
        "Show the plan",
    ], "the plan mode must touch no AWX"
    return dict(shown[0]["hosts"]["localhost"]["msg"])


def _entry_point(operation: str) -> dict[str, Any]:
    return dict(yaml.safe_load(SPECS.read_text())["argument_specs"][f"survey_{operation}"]["options"])


def _check_survey(survey: dict[str, Any], options: dict[str, Any]) -> None:
    assert {q["variable"] for q in survey["spec"]} == set(options)
    for question in survey["spec"]:
        option = options[question["variable"]]
        assert question["question_name"] and question["question_description"]
        assert question["required"] is bool(option.get("required", False)), question["variable"]
        assert question["type"] == QUESTION_TYPE[option.get("type", "str")], question["variable"]
        if "default" in option:
            default = json.loads(question["default"]) if option.get("type") == "dict" else question["default"]
            assert default == option["default"], question["variable"]
        else:
            assert "default" not in question, question["variable"]


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_survey_field_matches_the_argument_spec(operation: str) -> None:
    templates = {t["name"]: t for t in _plan()["job_templates"]}
    template = templates[f"ShieldOps {operation}"]
    assert template["job_type"] == "run" and template["playbook"] == f"playbooks/awx/{operation}.yml"
    _check_survey(template["survey_spec"], _entry_point(operation))
    # The template's playbook validates its answers against that same entry point.
    play = yaml.safe_load((project_dir() / template["playbook"]).read_text())[0]
    assert play["tasks"][0]["ansible.builtin.include_role"]["tasks_from"] == f"survey_{operation}"


def test_the_dry_run_template_is_execute_action_in_check_mode() -> None:
    dry = {t["name"]: t for t in _plan()["job_templates"]}["ShieldOps execute_action (dry run)"]
    assert dry["job_type"] == "check" and dry["playbook"] == "playbooks/awx/execute_action.yml"
    _check_survey(dry["survey_spec"], _entry_point("execute_action"))


def test_a_workflow_per_destructive_action_type_puts_an_approval_between_dry_run_and_act() -> None:
    destructive = sorted(
        {
            action.name
            for provider in PROVIDER_TYPES.values()
            for native in Capabilities.load(provider.name, provider.role()).native_types.values()
            for action in native.actions.values()
            if action.destructive
        }
    )
    workflows = {w["extra_vars"]["shieldops_request_action_type"]: w for w in _plan()["workflows"]}
    assert sorted(workflows) == destructive
    options = _entry_point("execute_action")
    options.pop("shieldops_request_action_type")
    for action_type, workflow in workflows.items():
        _check_survey(workflow["survey_spec"], options)
        nodes = {n["identifier"]: n for n in workflow["workflow_nodes"]}
        chain, node = [], nodes["dry-run"]
        while True:
            chain.append(node["unified_job_template"])
            following = node.get("related", {}).get("success_nodes", [])
            if not following:
                break
            node = nodes[following[0]["identifier"]]
        assert [(j["type"], j["name"]) for j in chain] == [
            ("job_template", "ShieldOps execute_action (dry run)"),
            ("workflow_approval", f"Approve {action_type}"),
            ("job_template", "ShieldOps execute_action"),
        ]


def test_each_credential_type_injects_only_what_the_playbooks_read() -> None:
    types = {t["name"]: t for t in _plan()["credential_types"]}
    installation = types.pop("ShieldOps installation")
    assert installation["injectors"]["env"] == {"SHIELDOPS_CONFIG": "{{ tower.filename.config }}"}
    assert installation["injectors"]["extra_vars"] == {"shieldops_snapshot_key_file": "{{ tower.filename.key }}"}
    found = {}
    roles = project_dir() / "collections/ansible_collections/shieldops/connectors/roles"
    for path in sorted(roles.glob("*/files/awx_credential_type.yml")):
        found[path.parts[-3]] = yaml.safe_load(path.read_text())["name"]
    assert sorted(found) == ["aws", "azure", "gcp", "kubernetes"] and sorted(found.values()) == sorted(types)
    for provider, name in found.items():
        credential_type = types[name]
        fields = {f["id"] for f in credential_type["inputs"]["fields"]}
        assert not any(f.get("secret") for f in credential_type["inputs"]["fields"]), "no secret is stored"
        injected = credential_type["injectors"]["extra_vars"]
        assert list(injected) == [f"shieldops_{provider}_credential"]
        settings = PROVIDER_TYPES[provider].settings_model.model_fields
        for key, template in injected[f"shieldops_{provider}_credential"].items():
            assert key in settings, f"{name} injects {key}, which {provider}'s settings do not have"
            used = set(re.findall(r"\{\{\s*([a-z_]+)", template)) - {"tower"}
            assert used <= fields, f"{name}: {key} uses {used - fields}, not among its inputs"
        assert set(credential_type["injectors"]) <= {"extra_vars", "file"}, "and no environment variable"


def test_an_inventory_source_per_inventory_file_of_the_project() -> None:
    files = sorted(p.relative_to(project_dir()).as_posix() for p in (project_dir() / "inventories").glob("*/*.yml"))
    assert [s["source_path"] for s in _plan()["inventory_sources"]] == files


def test_survey_answers_become_the_request_and_nothing_else() -> None:
    from ansible.errors import AnsibleFilterError

    # The filter file by its path: it imports nothing of the collection.
    path = project_dir() / "collections/ansible_collections/shieldops/connectors/plugins/filter/awx.py"
    spec = importlib.util.spec_from_file_location("shieldops_filter_awx", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    survey_request = module.survey_request
    answers = {
        "shieldops_request_environment": "prod",
        "shieldops_request_action_type": "scale",
        "shieldops_request_resource_id": "deployment/shop/web",
        "shieldops_request_action_parameters": '{"replicas": 2}',
        "shieldops_request_action_reason": "{{ not a template here }}",
        "shieldops_request_snapshot_id": "",
    }
    assert survey_request(answers, "execute_action", "kubernetes") == {
        "provider": "kubernetes",
        "environment": "prod",
        "action": {
            "type": "scale",
            "resource_id": "deployment/shop/web",
            "parameters": {"replicas": 2},
            "reason": "{{ not a template here }}",
        },
    }
    window = survey_request({"shieldops_request_environment": "e", "shieldops_request_minutes": 5}, "get_events", "x")
    assert set(window) == {"provider", "environment", "start", "end"}
    for bad, message in (
        ({"shieldops_request_action_parameters": "[1]"}, "must be a JSON object"),
        ({"shieldops_request_filters": "{}"}, "execute_action takes no filters"),
    ):
        with pytest.raises(AnsibleFilterError, match=message):
            survey_request(answers | bad, "execute_action", "kubernetes")
    with pytest.raises(AnsibleFilterError, match="minutes must be 1 to 10080"):
        survey_request({"shieldops_request_environment": "e", "shieldops_request_minutes": 0}, "get_events", "x")


def test_the_eda_rulebook_launches_templates_configure_creates_with_their_survey_answers() -> None:
    templates = {t["name"]: t for t in _plan()["job_templates"]}
    rulebook = yaml.safe_load((project_dir() / "extensions/eda/rulebooks/alertmanager_health.yml").read_text())
    launches = [rule["action"]["run_job_template"] for ruleset in rulebook for rule in ruleset["rules"]]
    assert {launch["name"] for launch in launches} == {"ShieldOps get_health", "ShieldOps execute_action (dry run)"}
    for launch in launches:
        template = templates[launch["name"]]
        asked = {q["variable"]: q for q in template["survey_spec"]["spec"]}
        given = launch["job_args"]["extra_vars"]
        # AWX drops launch variables its survey does not ask for (the templates do not prompt for variables).
        assert set(given) <= set(asked), set(given) - set(asked)
        assert {v for v, q in asked.items() if q["required"]} <= set(given)
