"""`secret.template.data`: a restricted placeholder syntax, parsed before any Azure call, rendered in linear time.

An entry is literal text with placeholders `{{ name }}` or `{{ name | urlquote }}`, `name` one of the Secret's
own keys (`username`, `password`, `host`, `port`, `from`, `starttls`). Nothing else: no expression, no loop, no
attribute or item access, no other filter. So a template can neither run long nor allocate beyond its own
length times the longest value (it is rendered by one pass of string joins), and a template that parses always
renders: no rendering error can carry a value. Errors name the key and the template's own text, never a value.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["NAMES", "TemplateError", "needs", "parse", "parse_all", "render", "render_all", "rendered_size"]

NAMES = ("username", "password", "host", "port", "from", "starttls")
_FILTERS = {"urlquote"}
_OPEN = "{{"
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\|\s*([A-Za-z_][A-Za-z0-9_]*)\s*)?\}\}")


class TemplateError(ValueError):
    """A `secret.template.data` entry that is not in the placeholder syntax; `key` names it."""

    def __init__(self, key: str, detail: str) -> None:
        super().__init__(f"secret.template.data[{key!r}]: {detail}")
        self.key = key


@dataclass(frozen=True)
class Placeholder:
    name: str
    urlquote: bool


Part = str | Placeholder


def _snippet(text: str, at: int) -> str:
    return repr(text[at : at + 24] + ("..." if len(text) > at + 24 else ""))


def parse(key: str, text: str) -> tuple[Part, ...]:
    """The literal text and placeholders of one entry; `TemplateError` naming the first problem."""
    parts: list[Part] = []
    position = 0
    while True:
        at = text.find(_OPEN, position)
        if at < 0:
            break
        if at > position:
            parts.append(text[position:at])
        found = _PLACEHOLDER.match(text, at)
        if found is None:
            raise TemplateError(
                key,
                f"at character {at}: {_snippet(text, at)} is not a placeholder; write {{{{ name }}}} or "
                f"{{{{ name | urlquote }}}} with name one of {', '.join(NAMES)}",
            )
        name, flt = found.group(1), found.group(2)
        if name not in NAMES:
            raise TemplateError(key, f"at character {at}: {name!r} is not one of {', '.join(NAMES)}")
        if flt is not None and flt not in _FILTERS:
            raise TemplateError(key, f"at character {at}: filter {flt!r} is unknown; the one filter is urlquote")
        parts.append(Placeholder(name, flt == "urlquote"))
        position = found.end()
    if position < len(text):
        parts.append(text[position:])
    for statement in ("{%", "{#"):
        if any(statement in p for p in parts if isinstance(p, str)):
            raise TemplateError(key, f"{statement!r}: statements and comments are not part of the template syntax")
    return tuple(parts)


def parse_all(templates: Mapping[str, str]) -> dict[str, tuple[Part, ...]]:
    return {key: parse(key, text) for key, text in templates.items()}


def needs(templates: Mapping[str, str]) -> set[str]:
    """The values the entries use (after they parse)."""
    return {p.name for parts in parse_all(templates).values() for p in parts if isinstance(p, Placeholder)}


def rendered_size(templates: Mapping[str, str], longest: Mapping[str, int]) -> int:
    """The most characters the entries can render to, given the longest each value can be (without rendering:
    literal text, plus each placeholder's longest value, three times over when percent-encoded)."""
    total = 0
    for parts in parse_all(templates).values():
        for part in parts:
            total += len(part) if isinstance(part, str) else longest.get(part.name, 0) * (3 if part.urlquote else 1)
    return total


def _urlquote(value: str) -> str:
    """Percent-encode everything a URL's userinfo cannot hold (`|`, `@`, `.`, `:`, `/`, ...)."""
    return urllib.parse.quote(value, safe="").replace(".", "%2E")


def render(key: str, parts: tuple[Part, ...], values: Mapping[str, str]) -> str:
    """One entry; a value the entry uses but the Secret does not hold (`from` without a sender) is named."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
            continue
        if part.name not in values:
            raise TemplateError(key, f"uses {{{{ {part.name} }}}}, which this Secret does not hold")
        value = values[part.name]
        out.append(_urlquote(value) if part.urlquote else value)
    return "".join(out)


def render_all(templates: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    return {key: render(key, parts, values) for key, parts in parse_all(templates).items()}
