"""Compile the playbooks' Jinja templates once, in the warm server, instead of once per request.

Every request builds new templating environments, so Jinja would lex, parse, generate and ``compile()`` every
template string and conditional of the roles again (measured: about a fifth of a warm read's CPU). The Python code
Jinja generates depends only on the source text and the environment's compile-time settings, not on the
environment instance or the variables, so this module keeps the code objects in a process-wide cache keyed by
both, and ``prime`` fills it in the server from the parsed playbooks and roles before any request is forked.
Rendering is untouched: each request still builds its templates (``from_code``) in its own environments, and what
may be templated at all (trusted content only, never request data) is decided before any compile.

Private API of jinja2 and ansible-core (pinned); a miss only means a normal compile.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = ["install", "prime", "template_cache_enabled"]

_CONDITIONAL_KEYS = frozenset({"when", "failed_when", "changed_when", "until", "that"})
_cache: dict[tuple[Any, ...], Any] = {}
_expression_key: list[tuple[Any, ...] | None] = [None]  # set while compile_expression compiles its node


_DISABLE_ENV = "SHIELDOPS_WARM_TEMPLATE_CACHE"  # "0" turns the cache off (benchmarks compare both ways)


def template_cache_enabled() -> bool:
    return os.environ.get(_DISABLE_ENV, "1") != "0"


def _settings(env: Any) -> tuple[Any, ...]:
    from ansible._internal._templating import _jinja_bits

    context = _jinja_bits._TemplateCompileContext.current(optional=True)
    return (
        type(env),
        tuple(getattr(env, name) for name in _jinja_bits._TEMPLATE_OVERRIDE_FIELD_NAMES),
        env.optimized,
        env.is_async,
        env.autoescape,
        None if context is None else context.escape_backslashes,
    )


def install() -> None:
    from ansible._internal._templating._jinja_bits import AnsibleEnvironment
    from jinja2.environment import TemplateExpression

    if getattr(AnsibleEnvironment, "_shieldops_compile_cache", False) or not template_cache_enabled():
        return
    original_compile = AnsibleEnvironment.compile
    original_compile_expression = AnsibleEnvironment.compile_expression

    def compile(
        self: Any, source: Any, name: Any = None, filename: Any = None, raw: bool = False, defer_init: bool = False
    ) -> Any:
        if raw or self._debuggable_template_source:
            return original_compile(self, source, name, filename, raw, defer_init)
        if isinstance(source, str):
            key: tuple[Any, ...] | None = ("template", source, name, filename, defer_init, _settings(self))
        else:  # a node: only the one compile_expression hands over is known by its source
            key, _expression_key[0] = _expression_key[0], None
        if key is None:
            return original_compile(self, source, name, filename, raw, defer_init)
        code = _cache.get(key)
        if code is None:
            code = _cache[key] = original_compile(self, source, name, filename, raw, defer_init)
        return code

    def compile_expression(self: Any, source: str, undefined_to_none: bool = True) -> Any:
        if self._debuggable_template_source:
            return original_compile_expression(self, source, undefined_to_none)
        key = ("expression", source, _settings(self))
        code = _cache.get(key)
        if code is None:
            _expression_key[0] = key
            try:
                return original_compile_expression(self, source, undefined_to_none)
            finally:
                _expression_key[0] = None
        # What jinja2's compile_expression returns, from the cached code: a template of this environment.
        template = self.template_class.from_code(self, code, self.make_globals(None), None)
        return TemplateExpression(template, undefined_to_none)

    AnsibleEnvironment.compile = compile
    AnsibleEnvironment.compile_expression = compile_expression
    AnsibleEnvironment._shieldops_compile_cache = True


def _strings(data: Any, key: str | None = None) -> Iterator[tuple[str | None, str]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _strings(v, str(k))
    elif isinstance(data, list):
        for v in data:
            yield from _strings(v, key)
    elif isinstance(data, str):
        yield key, data


def prime(documents: Iterable[Any]) -> int:
    """Compile every template and conditional found in ``documents`` (parsed playbooks and task files, loaded as
    Ansible loads them: trusted as templates). Nothing is rendered. Returns how many entries the cache holds."""
    from ansible._internal._templating._engine import TemplateEngine, TemplateOptions
    from ansible._internal._templating._jinja_bits import is_possibly_template

    if not template_cache_enabled():
        return 0
    engine = TemplateEngine()
    template_options = TemplateOptions()
    # Conditionals are evaluated with escape_backslashes off (TemplateEngine._normalize_and_evaluate_conditional).
    expression_options = TemplateOptions(escape_backslashes=False, preserve_trailing_newlines=False)
    for document in documents:
        for key, text in _strings(document):
            with contextlib.suppress(Exception):
                if key in _CONDITIONAL_KEYS and not is_possibly_template(text):
                    engine._compile_expression(text.strip(), expression_options)
                elif is_possibly_template(text):
                    engine._compile_template(text, template_options)
    return len(_cache)
