"""The AWS provider's warm-engine work: botocore parsed once in the warm server and shared by every request.

amazon.aws modules build a new boto3 Session per call, and each Session a new botocore Loader that parses the
service models again (~185 ms for EC2). Loaders with the same search paths read the same files, so they can share
one cache: every Loader created in the server (and in every process forked from it) uses the cache of the first.
Called through ``AwsProvider.warm_up`` by engines/warm/sdk_warmup.py.
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = [
    "SERVICES",
    "share_botocore_client_methods",
    "share_botocore_event_names",
    "share_botocore_loader_cache",
    "warm_up",
]

# Models the role's modules load; parsed once in the server, reused by every request.
SERVICES = ("ec2", "ecs", "lambda", "sts", "cloudwatch", "cloudtrail", "iam")


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


def share_botocore_client_methods() -> None:
    """Build each service's client methods once. botocore makes a client class per client, with one method per
    API operation (~700 for EC2: ~15 ms of a module's ~20 ms EC2 client set-up); the methods depend only on the
    service model, which the shared Loader cache hands out as one object. Each client still gets its own class
    and its session's ``creating-client-class`` handlers, run on a fresh copy of the methods."""
    from botocore import client

    if getattr(client.ClientCreator, "_shieldops_shared", False):
        return
    built: dict[tuple[str, int], tuple[Any, dict[str, Any]]] = {}
    original = client.ClientCreator._create_methods

    def _create_methods(self: Any, service_model: Any) -> dict[str, Any]:
        description = service_model._service_description
        key = (service_model.service_name, id(description))
        entry = built.get(key)
        if entry is None or entry[0] is not description:
            # The description is kept with the methods, so its id cannot be reused by another while cached.
            entry = built[key] = (description, original(self, service_model))
        return dict(entry[1])

    client.ClientCreator._create_methods = _create_methods
    client.ClientCreator._shieldops_shared = True


def share_botocore_event_names() -> None:
    """Make a new botocore Session cheap: it registers ~130 built-in event handlers, and each registration
    translates the event's aliases (cached per Session) and inspects the handler's signature (not cached), ~10 ms
    per Session. Both answers depend only on the event name and the handler's function, so one cache serves every
    Session (the alias cache only for Sessions with botocore's default aliases)."""
    from botocore import hooks
    from botocore.utils import EVENT_ALIASES

    if getattr(hooks, "_shieldops_shared", False):
        return
    aliased: dict[str, str] = {}
    original_init = hooks.EventAliaser.__init__

    def __init__(self: Any, event_emitter: Any, event_aliases: Any = None) -> None:
        original_init(self, event_emitter, event_aliases)
        if self._event_aliases is EVENT_ALIASES:
            self._alias_name_cache = aliased

    accepts: dict[Any, bool] = {}
    original_accepts = hooks.accepts_kwargs

    def accepts_kwargs(func: Any) -> bool:
        key = getattr(func, "__func__", func)  # a bound method's answer is its function's
        try:
            return accepts[key]
        except (KeyError, TypeError):
            answer = bool(original_accepts(func))
            with contextlib.suppress(TypeError):
                accepts[key] = answer
            return answer

    hooks.EventAliaser.__init__ = __init__
    hooks.accepts_kwargs = accepts_kwargs
    hooks._shieldops_shared = True


def warm_up() -> None:
    """Share what botocore parses across every Session, Loader and client of the server and its forks, and load
    the models the role's modules use."""
    share_botocore_loader_cache()
    share_botocore_client_methods()
    share_botocore_event_names()
    with contextlib.suppress(Exception):
        import boto3
        from botocore import xform_name

        session = boto3.session.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        for service in SERVICES:
            # Creating a client loads the service model, endpoints and retry data; the paginator and waiter
            # models load on first use (each first load also scans botocore's data directories, ~10 ms).
            client = session.client(service)
            operation = xform_name(client.meta.service_model.operation_names[0])
            client.can_paginate(operation)
            client.waiter_names  # noqa: B018 - the property loads the waiter model
        # amazon.aws checks the service name against these lists (a scan of botocore's data directories).
        session.get_available_services()
        session.get_available_resources()
