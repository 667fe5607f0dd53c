import threading
from pathlib import Path

from shieldops_ansible.engines.secrets import SecretChannel, split_secret_env


def test_split_secret_env() -> None:
    plain, secret = split_secret_env(
        {
            "AWS_REGION": "x",
            "AWS_SECRET_ACCESS_KEY": "s",
            "AWS_SESSION_TOKEN": "t",
            "AWS_ACCESS_KEY_ID": "k",
            "HOME": "/",
        }
    )
    assert set(plain) == {"AWS_REGION", "HOME"}
    assert set(secret) == {"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ACCESS_KEY_ID"}


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
