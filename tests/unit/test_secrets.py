import threading
from pathlib import Path

from shieldops_ansible.engines.secrets import SecretChannel


def test_channel_hands_over_once_and_leaves_nothing(tmp_path: Path) -> None:
    channel = SecretChannel(tmp_path, {"TOKEN": "abc"})
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(channel.path.read_bytes()))
    reader.start()
    reader.join(5)
    channel.close()
    assert got == [b'{"TOKEN": "abc"}']
    assert list(tmp_path.iterdir()) == []


def test_channel_closes_without_reader(tmp_path: Path) -> None:
    channel = SecretChannel(tmp_path, {"TOKEN": "abc"})
    channel.close()
    assert list(tmp_path.iterdir()) == []
