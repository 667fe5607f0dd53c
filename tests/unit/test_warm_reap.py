"""A request at the warm server's capacity waits briefly for a finished child to exit before it is refused."""

from __future__ import annotations

import os
import time

from shieldops_ansible.engines.warm.server import _reap_within


def test_a_child_that_is_exiting_frees_its_slot() -> None:
    pid = os.fork()
    if pid == 0:  # a child that has answered its client and takes a moment to exit
        time.sleep(0.2)
        os._exit(0)
    children = {pid}
    started = time.monotonic()
    _reap_within(children, limit=1, seconds=5)
    assert children == set() and time.monotonic() - started < 4


def test_a_running_child_keeps_its_slot_after_the_wait() -> None:
    pid = os.fork()
    if pid == 0:
        time.sleep(3)
        os._exit(0)
    children = {pid}
    try:
        _reap_within(children, limit=1, seconds=0.1)
        assert children == {pid}
    finally:
        os.waitpid(pid, 0)
