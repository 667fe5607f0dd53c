"""No agent-supplied text on any command line (issue 12).

Every task of every role and playbook is classified by its module. A task whose module runs a program (on a host
or on the controller) must be in the reviewed table below with exactly the variables its arguments reference, and
each of those must be fixed text, an operator's inventory value, or a value our own grammar guarantees, reaching
the program as an argv item of its own. A new command-running task, a new variable in one, a module that nobody
classified or one of our modules that starts running programs fails here until someone reviews it.

Request values are validated by the facade (shieldops_ansible.validation) and ids again by the role's own
grammar (the provider role's vars/main.yml, checked by the resolve_target filter in the operation role before it
includes any provider task file).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nodes as jn
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
OURS = ROOT / "collections" / "ansible_collections" / "shieldops" / "connectors" / "plugins"
ROLES = OURS.parent / "roles"

# Modules that run a program, whatever we pass them.
RUNS_COMMANDS = {
    "ansible.builtin.command",
    "ansible.builtin.shell",
    "ansible.builtin.raw",
    "ansible.builtin.script",
    "ansible.builtin.expect",
    "ansible.builtin.reboot",
    "ansible.builtin.service",
    "ansible.builtin.systemd",
    "ansible.builtin.systemd_service",
    "ansible.builtin.sysvinit",
    "ansible.builtin.service_facts",
    "ansible.builtin.package_facts",
    "ansible.builtin.setup",
    "ansible.builtin.package",
    "ansible.builtin.apt",
    "ansible.builtin.dnf",
    "ansible.builtin.pip",
    "ansible.builtin.git",
    "community.general.supervisorctl",
    "shieldops.connectors.linux_file_capture",
    "shieldops.connectors.linux_supervisor_program",
}
# Modules that run none: provider API clients and controller-side logic. stat is here for how we call it
# (its get_mime runs `file PATH` as an argv list; the path is ours). Our own modules are classified by a scan of
# their source instead (test_our_plugins_that_run_programs_are_classified).
NO_COMMANDS = {
    "ansible.builtin.assert",
    "ansible.builtin.fail",
    "ansible.builtin.set_fact",
    "ansible.builtin.set_stats",
    "ansible.builtin.include_role",
    "ansible.builtin.import_role",
    "ansible.builtin.include_tasks",
    "ansible.builtin.import_tasks",
    "ansible.builtin.slurp",
    "ansible.builtin.stat",
    "ansible.builtin.wait_for",
    "amazon.aws.ec2_instance",
    "amazon.aws.ec2_instance_info",
    "amazon.aws.ec2_snapshot",
    "amazon.aws.ec2_snapshot_info",
    "amazon.aws.ec2_vol",
    "amazon.aws.lambda_alias",
    "amazon.aws.lambda_info",
    "azure.azcollection.azure_rm_aks_info",
    "azure.azcollection.azure_rm_aksagentpool",
    "azure.azcollection.azure_rm_manageddisk",
    "azure.azcollection.azure_rm_resource",
    "azure.azcollection.azure_rm_resource_info",
    "azure.azcollection.azure_rm_snapshot",
    "azure.azcollection.azure_rm_snapshot_info",
    "azure.azcollection.azure_rm_virtualmachine",
    "azure.azcollection.azure_rm_virtualmachine_info",
    "google.cloud.gcp_compute_disk",
    "google.cloud.gcp_container_cluster_info",
    "google.cloud.gcp_compute_instance_info",
    "google.cloud.gcp_compute_snapshot",
    "google.cloud.gcp_compute_snapshot_info",
    "community.aws.ecs_service",
    "community.aws.ecs_service_info",
    "kubernetes.core.k8s",
    "kubernetes.core.k8s_drain",
    "kubernetes.core.k8s_info",
    "kubernetes.core.k8s_scale",
}
# Modules whose whole text goes to a shell: nothing templated at all.
SHELLS = {"ansible.builtin.shell", "ansible.builtin.raw", "ansible.builtin.script", "ansible.builtin.expect"}

# Inventory values: an operator's settings, never a request's.
_SUPERVISOR_PATHS = {
    "hostvars[linux_host].shieldops_supervisorctl_path",
    "hostvars[linux_host].shieldops_supervisor_config",
    "linux_supervisor_config_default",
}

# (task file, task name, module) -> every variable its arguments may reference. NAME in the reasons: linux_svc.name,
# a unit or program the host itself listed, equal to the requested name, which passed the linux_service id grammar
# (one word, no quote, no leading '-': test_the_service_grammar_keeps_a_name_one_word). STATE: a fixed map's value.
REVIEWED: dict[tuple[str, str, str], set[str]] = {
    # Fixed message, the module's default shutdown and boot-id commands: the plugin runs `shutdown -r 0 "MSG"` in sh.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/act/host.yml",
        "Reboot the host",
        "ansible.builtin.reboot",
    ): set(),
    # argv supervisorctl -c CONFIG STATE NAME (it re-joins argv and splits on spaces: NAME has none); inventory paths.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/act/linux_service_change.yml",
        "Change the supervisord program",
        "community.general.supervisorctl",
    ): {
        "linux_svc.name",
        "linux_target_state",
        *_SUPERVISOR_PATHS,
    },
    # The action runs `PYTHON -I -S -c DRIVER` (see linux_file_capture below); NAME, STATE and the inventory's
    # config path go on stdin as JSON and reach supervisord as XML-RPC parameters, never a command line.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/act/linux_service_change.yml",
        "Change the supervisord program over its socket",
        "shieldops.connectors.linux_supervisor_program",
    ): {
        "linux_svc.name",
        "linux_target_state",
        "hostvars[linux_host].shieldops_supervisor_config",
        "linux_supervisor_config_default",
    },
    # `systemctl STATE 'NAME'` is shlex-split, no shell: NAME cannot leave its quotes or become an option.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/act/linux_service_change.yml",
        "Change the systemd unit",
        "ansible.builtin.systemd_service",
    ): {
        "linux_svc.name",
        "linux_target_state",
    },
    # argv of inventory paths and fixed words.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/rollback/linux_service.yml",
        "Reload supervisord's program definitions",
        "ansible.builtin.command",
    ): {
        *_SUPERVISOR_PATHS,
    },
    # systemctl daemon-reload: fixed.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/rollback/linux_service.yml",
        "Reload systemd's unit definitions",
        "ansible.builtin.systemd_service",
    ): set(),
    # argv: fixed options, then NAME.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/snapshot/linux_service.yml",
        "Find the unit file of a systemd service",
        "ansible.builtin.command",
    ): {
        "linux_svc.name",
    },
    # argv: fixed options, then NAME.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/health/linux_service_details.yml",
        "Read systemd details",
        "ansible.builtin.command",
    ): {
        "linux_svc.name",
    },
    # argv: a role default count, @EPOCH of validated datetimes (epoch_seconds: an int), --unit NAME (linux_log_unit).
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/read_logs.yml",
        "Read the journal",
        "ansible.builtin.command",
    ): {
        "linux_event_lines",
        "shieldops_request.start",
        "shieldops_request.end",
        "linux_log_unit",
    },
    # Fixed sh text but for a role default count and an inventory path (or its fixed default), each assigned whole
    # through ansible.builtin.quote and used only in double quotes after `-n` and `--`.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/read_logs.yml",
        "Read supervisord's log",
        "ansible.builtin.raw",
    ): {
        "linux_event_lines",
        "hostvars[linux_host].shieldops_supervisord_log",
        "linux_supervisord_log_default",
    },
    # The action runs `PYTHON -I -S -c DRIVER`: PYTHON the inventory's ansible_python_interpreter when it is a
    # plain absolute path (quoted whole), DRIVER fixed text; the paths and the module's source go on stdin as
    # JSON and text, never on the command line. dest is a controller folder.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/capture_files.yml",
        "Capture the files into the snapshot",
        "shieldops.connectors.linux_file_capture",
    ): {
        "linux_paths",
        "linux_files_dir",
        "linux_host",
    },
    # No options: dpkg-query / rpm with fixed arguments (both package_facts tasks).
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/snapshot/host.yml",
        "Read the package list",
        "ansible.builtin.package_facts",
    ): set(),
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/snapshot/linux_service.yml",
        "Read package versions (inventory var shieldops_service_packages)",
        "ansible.builtin.package_facts",
    ): set(),
    # Fixed sh text (a host's read in one round trip, issue 16) but for supervisord's two inventory paths, each
    # assigned whole through ansible.builtin.quote (conf='...', ctl='...': one
    # word whatever it holds) and used only in double quotes ("$ctl" -c "$conf" status): an argv item of its own.
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/host_read.yml",
        "Read each host in one round trip",
        "ansible.builtin.raw",
    ): {
        "hostvars[linux_target].shieldops_supervisor_config",
        "linux_supervisor_config_default",
        "hostvars[linux_target].shieldops_supervisorctl_path",
        "linux_read_depth",
    },
    # No options: the module's own fixed commands (systemctl list-units ...).
    (
        "collections/ansible_collections/shieldops/connectors/roles/linux/tasks/host_read_systemd.yml",
        "Read systemd services of the hosts that run systemd",
        "ansible.builtin.service_facts",
    ): set(),
}

# Role variables the references above go through: every definition of each may reference only these.
DERIVED: dict[str, set[str]] = {
    # Picked from the host's own list by equality with the requested name (else the run fails).
    "linux_svc": {"linux_read.services", "linux_service_name"},
    # The service's TCP probe: the inventory's (hostvars of the host), found by the service's name.
    "linux_probe": {"hostvars[linux_host].shieldops_service_probes", "linux_svc.name"},
    # The id the operation role's resolve_target filter matched against the grammar (it fails otherwise).
    "linux_resource_id": {"shieldops_target.resource_id"},
    # Cut from that id.
    "linux_service_name": {"linux_resource_id.startswith", "linux_resource_id.split"},
    # The service's unit, or none for a host.
    "linux_log_unit": {"linux_svc.name"},
    # A value of a fixed map (any other action is a KeyError).
    "linux_target_state": {"linux_action"},
}


def _task_files() -> Iterator[Path]:
    yield from sorted(ROLES.glob("*/tasks/**/*.yml"))
    yield from sorted(ROLES.glob("*/handlers/**/*.yml"))


def _tasks(items: Any) -> Iterator[dict[str, Any]]:
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if any(k in item for k in ("block", "rescue", "always")):
            for key in ("block", "rescue", "always"):
                yield from _tasks(item.get(key))
        else:
            yield item


def _playbook_tasks(path: Path) -> Iterator[dict[str, Any]]:
    for play in yaml.safe_load(path.read_text()) or []:
        for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            yield from _tasks(play.get(key))


def _all_tasks() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in _task_files():
        for task in _tasks(yaml.safe_load(path.read_text())):
            yield str(path.relative_to(ROOT)), task
    for path in sorted((ROOT / "playbooks").glob("*.yml")):
        for task in _playbook_tasks(path):
            yield str(path.relative_to(ROOT)), task


def _keywords() -> set[str]:
    from ansible.playbook.task import Task

    return set(Task().fattributes)


_KEYWORDS = _keywords()


def _module(task: dict[str, Any]) -> tuple[str, Any]:
    # `action:`/`local_action:` hide the module in a string this test does not parse: the roles use module keys.
    assert "action" not in task and "local_action" not in task, task.get("name")
    names = [k for k in task if k not in _KEYWORDS and not k.startswith("with_")]
    assert len(names) == 1, (task.get("name"), names)
    name = names[0]
    if "." not in name:
        name = f"ansible.builtin.{name}"
    name = name.replace("ansible.legacy.", "ansible.builtin.")
    args = task[names[0]]
    if isinstance(task.get("args"), dict):
        args = {**(args if isinstance(args, dict) else {"_raw_params": args}), **task["args"]}
    return name, args


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


_ENV = jinja2.Environment()


def _chain(node: jn.Node) -> str | None:
    """`a.b[c].d` as written, when node is a chain of attributes and items on a variable."""
    if isinstance(node, jn.Name):
        return node.name
    if isinstance(node, jn.Getattr):
        base = _chain(node.node)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, jn.Getitem):
        base = _chain(node.node)
        if base is None:
            return None
        if isinstance(node.arg, jn.Const):
            return f"{base}.{node.arg.value}"
        index = _chain(node.arg)
        return None if index is None else f"{base}[{index}]"
    return None


def _references_in(node: jn.Node) -> Iterator[str]:
    chain = _chain(node)
    if chain is not None:
        yield chain
        return
    for child in node.iter_child_nodes():
        yield from _references_in(child)


def references(value: Any) -> set[str]:
    """Every variable (with the attributes and items taken of it) the templates in value reference."""
    found: set[str] = set()
    for text in _strings(value):
        if "{{" in text or "{%" in text:
            found |= set(_references_in(_ENV.parse(text)))
    return found - {"omit"}  # Ansible's placeholder for "leave the option out"


def _command_tasks() -> dict[tuple[str, str, str], Any]:
    found: dict[tuple[str, str, str], Any] = {}
    for path, task in _all_tasks():
        module, args = _module(task)
        if module in RUNS_COMMANDS:
            key = (path, str(task.get("name")), module)
            assert key not in found, f"two tasks {key}: give them distinct names"
            found[key] = args
    return found


def test_every_module_is_classified() -> None:
    unknown = set()
    for path, task in _all_tasks():
        module, _args = _module(task)
        if module.startswith("shieldops.connectors."):
            continue  # classified by their source (below)
        if module not in RUNS_COMMANDS | NO_COMMANDS:
            unknown.add((module, path))
    assert not unknown, f"classify these modules (do they run a program?): {sorted(unknown)}"


_RUNS_PROGRAMS = re.compile(
    r"\brun_command\(|\bsubprocess\b|\bos\.(system|popen|exec\w*|spawn\w*)\(|_low_level_execute_command|\bpty\."
)


def test_our_plugins_that_run_programs_are_classified() -> None:
    """Ours run a program exactly when their source (module or action plugin) says so; shared utils run none."""
    used = {module for _path, task in _all_tasks() for module in [_module(task)[0]] if module.startswith("shieldops.")}
    for module in sorted(used):
        name = module.rsplit(".", 1)[1]
        sources = [OURS / kind / f"{name}.py" for kind in ("modules", "action")]
        assert any(p.exists() for p in sources), module
        runs = any(_RUNS_PROGRAMS.search(p.read_text()) for p in sources if p.exists())
        assert runs == (module in RUNS_COMMANDS), f"{module}: runs programs: {runs}; review and classify it"
    for shared in sorted([*(OURS / "module_utils").glob("*.py"), *(OURS / "plugin_utils").glob("*.py")]):
        assert not _RUNS_PROGRAMS.search(shared.read_text()), f"{shared.name} runs programs: review its users"


def test_every_command_running_task_is_reviewed() -> None:
    tasks = _command_tasks()
    assert sorted(set(tasks) - set(REVIEWED)) == [], "new command-running tasks: review them and add them here"
    assert sorted(set(REVIEWED) - set(tasks)) == [], "reviewed tasks that are gone or renamed: update the table"
    for key, args in tasks.items():
        assert references(args) == REVIEWED[key], key


def test_no_request_value_on_a_command_line() -> None:
    """The request's free text never reaches a command task; ids and times only by their reviewed routes."""
    for key, allowed in REVIEWED.items():
        for ref in allowed:
            assert not ref.startswith("shieldops_request.action"), (key, ref)
            assert ref in {"shieldops_request.start", "shieldops_request.end"} or "shieldops_request" not in ref


# Role defaults a shell may get (quoted whole): test_role_defaults_on_command_lines_are_fixed holds them fixed paths.
_FIXED_DEFAULTS = {"linux_supervisor_config_default", "linux_supervisord_log_default", "linux_event_lines"}
# Role variables a shell may get (quoted whole) that the role only ever sets to one of a few fixed words.
_FIXED_WORDS = {"linux_read_depth": {"brief", "full"}}


def _quoted_inventory_values_only(text: str) -> bool:
    """Fixed text but for expressions each quoted whole, last (`{{ VALUE | ansible.builtin.quote }}`: one sh word
    whatever VALUE holds), of inventory values only (hostvars of a host, fixed role defaults): no statement, no
    comment, no expression left unquoted or quoted and then changed."""
    if "{%" in text or "{#" in text:
        return False
    for node in _ENV.parse(text).body:
        if not isinstance(node, jn.Output):
            return False
        for item in node.nodes:
            if isinstance(item, jn.TemplateData):
                continue
            if not (isinstance(item, jn.Filter) and item.name == "ansible.builtin.quote" and not item.args):
                return False
            if not all(
                r.startswith("hostvars[") or r in _FIXED_DEFAULTS or r in _FIXED_WORDS for r in _references_in(item)
            ):
                return False
    return True


def test_shells_get_fixed_text_and_argv_items_stay_items() -> None:
    for (path, name, module), args in _command_tasks().items():
        refs = references(args)
        if module in SHELLS:
            assert not refs or all(_quoted_inventory_values_only(text) for text in _strings(args)), (
                path,
                name,
                "a shell gets fixed text and inventory values quoted whole only",
            )
        if module == "ansible.builtin.command" and refs:
            # cmd and the free form are split into words: a value could add some.
            assert isinstance(args, dict) and "argv" in args and not {"cmd", "_raw_params"} & set(args), (path, name)


def test_the_reboot_message_is_fixed_shell_safe_text() -> None:
    """ansible.builtin.reboot puts msg in `shutdown -r 0 "MSG"`, run by the host's shell; its command options would
    replace the defaults the sandbox exercises."""
    reboots = {key: args for key, args in _command_tasks().items() if key[2] == "ansible.builtin.reboot"}
    assert reboots
    for key, args in reboots.items():
        assert isinstance(args, dict) and set(args) <= {"msg", "reboot_timeout"}, key
        assert re.fullmatch(r"[A-Za-z0-9 .,:_-]+", str(args.get("msg", ""))), (key, "fixed text, no quote or $")


def _definitions(variable: str) -> Iterator[tuple[str, Any]]:
    """Every value the roles and playbooks give variable: set_fact, task vars, role defaults and vars."""
    for path, task in _all_tasks():
        module, args = _module(task)
        if module == "ansible.builtin.set_fact" and isinstance(args, dict) and variable in args:
            yield path, args[variable]
        if isinstance(task.get("vars"), dict) and variable in task["vars"]:
            yield path, task["vars"][variable]
    for file in sorted([*ROLES.glob("*/defaults/*.yml"), *ROLES.glob("*/vars/*.yml")]):
        doc = yaml.safe_load(file.read_text()) or {}
        if variable in doc:
            yield str(file.relative_to(ROOT)), doc[variable]


@pytest.mark.parametrize("variable", sorted(DERIVED))
def test_role_variables_on_command_lines_come_from_where_the_table_says(variable: str) -> None:
    found = list(_definitions(variable))
    assert found, f"{variable} is defined nowhere: update the table"
    for path, value in found:
        assert references(value) <= DERIVED[variable], (variable, path, references(value))


@pytest.mark.parametrize("variable", sorted(_FIXED_WORDS))
def test_fixed_words_are_only_ever_set_to_one_of_them(variable: str) -> None:
    found = list(_definitions(variable))
    assert found, f"{variable} is defined nowhere: update the table"
    for path, value in found:
        assert value in _FIXED_WORDS[variable], (variable, path, value)


def test_role_defaults_on_command_lines_are_fixed() -> None:
    defaults = yaml.safe_load((ROLES / "linux" / "defaults" / "main.yml").read_text())
    assert isinstance(defaults["linux_event_lines"], int)
    for name in ("linux_supervisor_config_default", "linux_supervisord_log_default"):
        assert re.fullmatch(r"(/[A-Za-z0-9._-]+)+", defaults[name]), name


def test_the_service_grammar_keeps_a_name_one_word() -> None:
    """What the table's reasons rely on: a service name that passed the linux_service id grammar is one word for
    sh, shlex (systemd_service formats `systemctl ACTION 'UNIT'`) and supervisorctl, and is no option."""
    capabilities = yaml.safe_load((ROLES / "linux" / "vars" / "main.yml").read_text())["shieldops_capabilities"]
    pattern = capabilities["native_types"]["linux_service"]["id_pattern"]
    assert re.fullmatch(pattern, "service/web-1/web@1:x.service")
    for bad in [
        "-web",
        "--help",
        "we b",
        "we'b",
        'we"b',
        "we;b",
        "we$b",
        "we`b",
        "we\\b",
        "we|b",
        "we&b",
        "we>b",
        "we*b",
    ]:
        assert not re.fullmatch(pattern, f"service/web-1/{bad}"), bad


def test_the_checker_sees_what_it_must() -> None:
    """The reference finder itself: a reason smuggled through a filter or an index is still found."""
    assert references({"argv": ["x", "{{ shieldops_request.action.reason | truncate(9) }}"]}) == {
        "shieldops_request.action.reason"
    }
    assert references("{{ (hostvars[linux_host].a | default({})).get(linux_svc.name, []) }}") == {
        "hostvars[linux_host].a",
        "linux_svc.name",
    }
    assert references("shutdown -r now") == set()
    assert _quoted_inventory_values_only(
        "c={{ hostvars[h].p | default(linux_supervisor_config_default) | ansible.builtin.quote }}"
    )
    for unsafe in [
        "c={{ hostvars[h].p }}",
        "c={{ hostvars[h].p | ansible.builtin.quote | replace('x', 'y') }}",
        "c={{ shieldops_request.action.reason | ansible.builtin.quote }}",
        "c={{ hostvars[h].p | ansible.builtin.quote(linux_svc.name) }}",
        "{% if x %}a{% endif %}",
    ]:
        assert not _quoted_inventory_values_only(unsafe), unsafe
