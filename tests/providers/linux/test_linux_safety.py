"""Linux's own safety cases: a host reboot keeps an agent's reason off the shutdown command line its shell runs,
and a secret in a configuration file that snapshots capture stays in the snapshot's copies of the file.

(The cross-provider cases, on every sampled environment, are tests/integration/test_untrusted_input.py and
test_secrets_hygiene.py.)
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from shieldops_ansible import Action, connect
from tests.support import Sandbox, hostile_reason, read_text, run_every_operation

pytestmark = pytest.mark.integration

CONFIG_SECRET = "db-password-5b71c0e2"  # in a configuration file that Linux snapshots capture


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("canary") / "pwned"


# What ansible.builtin.reboot runs on a sandbox host for a host restart: the first `shutdown` in its search paths,
# `-r 0` and the role's fixed message.
_SEARCH_PATHS = ("/sbin", "/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin")
_SHUTDOWN = next((f"{d}/shutdown" for d in _SEARCH_PATHS if Path(d, "shutdown").exists()), "/usr/local/sbin/shutdown")
REBOOT_ARGV = [_SHUTDOWN, "-r", "0", "Reboot requested through shieldops-ansible"]


def shutdown_calls(sandbox: Sandbox, host: str) -> list[list[str]]:
    """The argv of every call of the host's stand-in shutdown (one JSON line each, written on the host)."""
    lines = (sandbox.linux_dir / host / "shutdown_calls.jsonl").read_text().splitlines()
    return [json.loads(line)["argv"] for line in lines]


async def test_live_host_restart_keeps_the_reason_off_the_command_line(sandbox: Sandbox, canary: Path) -> None:
    """A real (not dry-run) reboot through ansible.builtin.reboot's default path, whose shutdown command line the
    host's shell runs: the reason must not reach it (the old role put it into the message)."""
    reason = hostile_reason(canary)
    before = shutdown_calls(sandbox, "web-2")
    boot_id = (sandbox.linux_dir / "web-2" / "boot_id").read_text()
    async with connect("linux", config=sandbox.config) as conn:
        result = await conn.execute_action(Action(type="restart", resource_id="host/web-2", reason=reason))
    assert result.success and result.status == "succeeded", result.message
    assert (sandbox.linux_dir / "web-2" / "boot_id").read_text() != boot_id  # it did go through the reboot
    # The hosts share this machine's filesystem: one look covers host and controller.
    assert not canary.exists()
    calls = shutdown_calls(sandbox, "web-2")[len(before) :]
    assert calls == [REBOOT_ARGV]
    assert not any(word in arg for arg in calls[0] for word in ("touch", canary.name, "$", "`", '"'))


@pytest.mark.parametrize("engine_name", ["warm", "runner"])
async def test_a_captured_config_secret_stays_in_the_snapshots_copies(
    sandbox: Sandbox, tmp_path: Path, engine_name: str
) -> None:
    """A snapshot copies the host's files as they are (0600, see test_linux): the secret in web-1's web.conf is in
    those copies, and nowhere else we write or say, neither as written nor as a module would carry the whole file
    (base64)."""
    web_conf = sandbox.linux_dir / "web-1" / "etc" / "web.conf"
    if CONFIG_SECRET not in web_conf.read_text():
        web_conf.write_text(web_conf.read_text() + f"password = {CONFIG_SECRET}\n")
    written = await run_every_operation(sandbox, "linux", engine_name, tmp_path)
    assert any(CONFIG_SECRET in read_text(p) for p in written.copies)
    for secret in (CONFIG_SECRET, base64.b64encode(web_conf.read_bytes()).decode()):
        assert len(secret) >= 8
        for text in written.texts:
            assert secret not in text


@pytest.mark.parametrize("action", ["restart", "stop", "start"])
async def test_a_dry_run_changes_nothing_on_the_host(sandbox: Sandbox, action: str) -> None:
    """A dry run with an edited program definition waiting on disk: nothing may apply it. (The supervisorctl module
    runs `supervisorctl update` before it looks at check mode, which restarts the edited program: the old dry-run
    restart did.) Whether the action would change anything is what the real action then says."""
    definition = sandbox.linux_dir / "web-1" / "conf.d" / "web.conf"
    original = definition.read_text()
    pid = sandbox.supervisor_pid("web-1", "web")
    definition.write_text(original.replace("startsecs=1", "startsecs=2"))
    try:
        async with connect("linux", config=sandbox.config) as conn:
            dry = await conn.execute_action(Action(type=action, resource_id="service/web-1/web", dry_run=True))
        assert dry.status == "dry_run" and dry.success, dry.message
        assert sandbox.supervisor_pid("web-1", "web") == pid
        assert dry.changed == (action != "start")  # web is running: a start would change nothing
    finally:
        definition.write_text(original)
    async with connect("linux", config=sandbox.config) as conn:
        real = await conn.execute_action(Action(type=action, resource_id="service/web-1/web"))
        assert real.success and real.changed == dry.changed, real.message
        if action == "stop":
            await conn.execute_action(Action(type="start", resource_id="service/web-1/web"))


@pytest.mark.parametrize("supervisorctl_has_credentials", [False, True])
async def test_a_restart_changes_only_its_program(
    sandbox: Sandbox, tmp_path: Path, supervisorctl_has_credentials: bool
) -> None:
    """A restart over supervisord's socket restarts the program and applies no edited definition (supervisord
    still has it pending, as after `supervisorctl restart`). Where the socket path does not apply (credentials in
    the [supervisorctl] section), community.general.supervisorctl restarts it, and its `supervisorctl update`
    applies every pending edit: that is the fallback's documented behaviour, shown here."""
    conf = sandbox.linux_dir / "web-1" / "supervisord.conf"
    variant_conf = tmp_path / "supervisord-credentials.conf"
    config = sandbox.config
    if supervisorctl_has_credentials:
        credentials = "[supervisorctl]\nusername=u\npassword=p\n"
        variant_conf.write_text(conf.read_text().replace("[supervisorctl]\n", credentials))
        config = sandbox.linux_config_with(tmp_path, "web-1", shieldops_supervisor_config=str(variant_conf))
    definition = sandbox.linux_dir / "web-1" / "conf.d" / "web.conf"
    original = definition.read_text()
    pid = sandbox.supervisor_pid("web-1", "web")
    definition.write_text(original.replace("startsecs=1", "startsecs=2"))
    try:
        async with connect("linux", config=config) as conn:
            restart = await conn.execute_action(Action(type="restart", resource_id="service/web-1/web"))
        assert restart.success and restart.changed, restart.message
        assert sandbox.supervisor_pid("web-1", "web") != pid
        pending = sandbox.supervisor_reread("web-1")
        assert ("web: changed" in pending) == (not supervisorctl_has_credentials), pending
    finally:
        definition.write_text(original)
        sandbox.supervisor_reread("web-1")  # supervisord's pending view back to the files as they are
