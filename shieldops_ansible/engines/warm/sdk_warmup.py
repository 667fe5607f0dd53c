"""Import the SDKs once in the warm server and share what they parse.

amazon.aws modules build a new boto3 Session per call, and each Session a new botocore Loader that parses the
service models again (~185 ms for EC2). Loaders with the same search paths read the same files, so they can share
one cache: every Loader created here (and in every process forked from here) uses the cache of the first one.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

__all__ = ["share_botocore_loader_cache", "warm_up"]

# Models the providers' modules load; parsed once in the server, reused by every request.
_AWS_SERVICES = ("ec2", "ecs", "lambda", "sts", "cloudwatch", "cloudtrail", "iam")
_IMPORTS = (
    "boto3",
    "botocore.session",
    "botocore.client",
    "kubernetes.client",
    "kubernetes.dynamic",
    "kubernetes.config",
    "urllib3",
    "yaml",
    "jsonpatch",
)


def share_botocore_loader_cache() -> None:
    from botocore import loaders

    if getattr(loaders.Loader, "_shieldops_shared", False):
        return
    shared: dict[tuple[str, ...], dict[Any, Any]] = {}
    original_init = loaders.Loader.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self._cache = shared.setdefault(tuple(self.search_paths), {})

    loaders.Loader.__init__ = __init__
    loaders.Loader._shieldops_shared = True


def warm_up() -> None:
    for name in _IMPORTS:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    share_botocore_loader_cache()
    with contextlib.suppress(Exception):
        import boto3

        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        for service in _AWS_SERVICES:
            # Creating a client loads the service model, endpoints and the retry and paginator data.
            session.client(service)
        # amazon.aws checks the service name against these lists (a scan of botocore's data directories).
        session.get_available_services()
        session.get_available_resources()
