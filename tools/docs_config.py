"""The site's config reference, written from the config's schema (`vislab.config`): every key
with its type, its default and what it does (its pydantic description). `python
tools/docs_reference.py` rewrites the generated part of docs/reference/config.md (between the
two markers; the text around it is written by hand); tests/test_docs.py fails when it falls
behind the schema.
"""

from __future__ import annotations

import html
import types
import typing
from pathlib import Path

PAGE = Path(__file__).resolve().parents[1] / "docs" / "reference" / "config.md"
BEGIN = "<!-- config keys: written by tools/docs_reference.py from vislab/config.py -->"
END = "<!-- end of config keys -->"
NAMES = {int: "whole number", float: "number", bool: "true or false", str: "text"}
BOUNDS = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<"}


def type_text(annotation) -> str:
    """A field's type in words: `whole number`, `` `clip` or `reject` ``, `list of text`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " or ".join(f"`{value}`" for value in args)
    if origin in (typing.Union, types.UnionType):
        shown = [arg for arg in args if arg is not type(None)]
        if float in shown and int in shown:  # a whole number is a number
            shown.remove(int)
        kinds = [type_text(arg) for arg in shown]
        text = " or ".join(kinds)
        return f"{text} or `null`" if type(None) in args else text
    if origin is list:
        return f"list of {type_text(args[0])}"
    if origin is tuple:
        return f"{len(args)} numbers" if set(args) <= {float, int} else "list"
    return NAMES.get(annotation, getattr(annotation, "__name__", str(annotation)))


def bounds_text(field) -> str:
    """`> 0`, `≥ 0, < 1`: the field's bounds, from its constraints."""
    found = []
    for constraint in field.metadata:
        for name, sign in BOUNDS.items():
            value = getattr(constraint, name, None)
            if value is not None:
                found.append(f"{sign} {value}")
    return ", ".join(found)


def default_text(field) -> str:
    """The default as one writes it in YAML; `required` where there is none."""
    import yaml

    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if isinstance(value, tuple):
        value = list(value)
    text = yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
    return f"`{text}`"


def rows(model, prefix: str = ""):
    """(key, type, default, description) of every field, sections' fields after their own."""
    from pydantic import BaseModel

    nested = []
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            nested.append((f"{prefix}{name}", field))
            continue
        kind = type_text(annotation)
        limits = bounds_text(field)
        yield (
            f"{prefix}{name}",
            f"{kind}, {limits}" if limits else kind,
            default_text(field),
            field.description or "",
        )
    for key, field in nested:
        yield from rows(field.annotation, f"{key}.")


def section() -> str:
    """The generated part: a table per section of the config."""
    from vislab.config import ExperimentConfig

    sections: dict[str, list] = {}
    for key, kind, default, text in rows(ExperimentConfig):
        top = key.split(".")[0] if "." in key else "top level"
        sections.setdefault(top, []).append((key, kind, default, text))
    descriptions = {
        name: field.description for name, field in ExperimentConfig.model_fields.items()
    }
    parts = [BEGIN]
    for top, found in sections.items():
        heading = top if top == "top level" else f"`{top}`"
        about = f" — {descriptions[top]}" if top in descriptions else ""
        parts += [f"\n### {heading}{about}\n", "| key | type | default | what it does |"]
        parts.append("| --- | --- | --- | --- |")
        parts += [
            f"| `{shown_key(key)}` | {kind} | {default} | {html.escape(text, quote=False)} |"
            for key, kind, default, text in found
        ]
    return "\n".join([*parts, "", END])


def shown_key(key: str) -> str:
    """A key as its section's table shows it: without the section (`data.split.val` under
    `data` is `split.val`)."""
    return key.split(".", 1)[1] if "." in key else key


def page(current: str) -> str:
    """The page `current` with its generated part as the schema gives it today."""
    if BEGIN not in current or END not in current:
        raise ValueError(f"{PAGE}: the markers {BEGIN!r} and {END!r} are missing")
    before, rest = current.split(BEGIN, 1)
    return before + section() + rest.split(END, 1)[1]
