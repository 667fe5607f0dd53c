"""What the Linux snapshot modules read and write on a host, run here on temporary folders."""

from __future__ import annotations

import base64
import hashlib
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from shieldops_ansible.paths import project_dir

sys.path.insert(0, str(project_dir() / "collections"))
from ansible_collections.shieldops.connectors.plugins.modules import (
    linux_file_capture as capture_module,
)
from ansible_collections.shieldops.connectors.plugins.modules import (
    linux_file_restore as restore_module,
)


def _capture(*paths: Path, limit: int = 1 << 20) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = capture_module.capture([str(p) for p in paths], limit)
    return files


def _handle(entry: dict[str, Any]) -> dict[str, Any]:
    """A captured entry as the restore module receives it (the action puts the stored content back)."""
    return {key: entry.get(key) for key in ("path", "exists", "checksum", "mode", "owner", "group", "content")}


def test_a_directory_expands_into_its_regular_files_without_hidden_names_or_links(tmp_path: Path) -> None:
    etc = tmp_path / "etc"
    (etc / "conf.d").mkdir(parents=True)
    (etc / "app.conf").write_text("port = 80\n")
    (etc / "conf.d" / "extra.conf").write_text("x = 1\n")
    (etc / ".swp").write_text("editor junk\n")
    (etc / ".git").mkdir()
    (etc / ".git" / "config").write_text("[core]\n")
    (etc / "link.conf").symlink_to(etc / "app.conf")
    os.mkfifo(etc / "pipe")
    files = _capture(etc)
    assert [f["path"] for f in files] == [str(etc / "app.conf"), str(etc / "conf.d" / "extra.conf")]
    app = files[0]
    assert app["exists"] and app["checksum"] == hashlib.sha256(b"port = 80\n").hexdigest()
    assert base64.b64decode(app["content"]) == b"port = 80\n"
    assert app["mode"] == "%04o" % (os.stat(etc / "app.conf").st_mode & 0o7777)
    assert app["owner"] and app["group"]


def test_a_missing_path_is_reported_so_that_rollback_can_remove_it(tmp_path: Path) -> None:
    (missing,) = _capture(tmp_path / "later.conf")
    assert missing == {
        "path": str(tmp_path / "later.conf"),
        "exists": False,
        "checksum": None,
        "mode": None,
        "owner": None,
        "group": None,
    }


def test_a_named_link_is_read_as_its_file_and_a_path_is_listed_once(tmp_path: Path) -> None:
    (tmp_path / "real.conf").write_text("a\n")
    (tmp_path / "named.conf").symlink_to(tmp_path / "real.conf")
    files = _capture(tmp_path / "named.conf", tmp_path / "real.conf", tmp_path)
    assert [f["path"] for f in files] == [str(tmp_path / "named.conf"), str(tmp_path / "real.conf")]
    assert files[0]["checksum"] == files[1]["checksum"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"x" * 11), r"more than max_file_bytes \(10\)"),
        (lambda p: os.mkfifo(p), "not a regular file or a directory"),
    ],
)
def test_what_cannot_be_captured_fails_with_the_path(tmp_path: Path, make: Any, message: str) -> None:
    target = tmp_path / "target"
    make(target)
    with pytest.raises(capture_module.CaptureError, match=message) as caught:
        _capture(target, limit=10)
    assert str(target) in str(caught.value)


def test_a_relative_path_is_refused(tmp_path: Path) -> None:
    with pytest.raises(capture_module.CaptureError, match="not an absolute path"):
        capture_module.capture(["etc/app.conf"], 10)


def test_restore_writes_back_content_and_mode_and_removes_what_did_not_exist(tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text("port = 80\n")
    conf.chmod(0o640)
    captured = _capture(conf, tmp_path / "new.conf")
    conf.write_text("port = 8080\n")
    conf.chmod(0o666)
    (tmp_path / "new.conf").write_text("created after the snapshot\n")
    results = [restore_module.restore_one(_handle(entry), False) for entry in captured]
    assert results == ["written", "removed"]
    assert conf.read_text() == "port = 80\n" and conf.stat().st_mode & 0o7777 == 0o640
    assert not (tmp_path / "new.conf").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["app.conf"]  # no temporary file left behind
    again = [restore_module.restore_one(_handle(entry), False) for entry in captured]
    assert again == ["unchanged", "absent"]


def test_restore_in_check_mode_reports_and_changes_nothing(tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text("before\n")
    (entry,) = _capture(conf)
    conf.write_text("after\n")
    assert restore_module.restore_one(_handle(entry), True) == "written"
    assert conf.read_text() == "after\n"


def test_restore_recreates_a_deleted_file_and_its_folder(tmp_path: Path) -> None:
    conf = tmp_path / "conf.d" / "app.conf"
    conf.parent.mkdir()
    conf.write_text("a\n")
    (entry,) = _capture(conf)
    conf.unlink()
    conf.parent.rmdir()
    assert restore_module.restore_one(_handle(entry), False) == "written"
    assert conf.read_text() == "a\n"


def test_restore_refuses_content_that_does_not_match_the_snapshot(tmp_path: Path) -> None:
    conf = tmp_path / "app.conf"
    conf.write_text("good\n")
    (entry,) = _capture(conf)
    conf.write_text("current\n")
    forged = _handle(entry) | {"content": base64.b64encode(b"evil\n").decode()}
    with pytest.raises(restore_module.RestoreError, match="does not match"):
        restore_module.restore_one(forged, False)
    assert conf.read_text() == "current\n"


def test_restore_does_not_remove_a_directory(tmp_path: Path) -> None:
    (entry,) = _capture(tmp_path / "later")
    (tmp_path / "later").mkdir()
    with pytest.raises(restore_module.RestoreError, match="now a directory"):
        restore_module.restore_one(_handle(entry), False)
