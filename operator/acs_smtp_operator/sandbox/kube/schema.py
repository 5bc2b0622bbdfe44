"""Pure validation of custom objects against a CRD's structural schema, as kube-apiserver does it.

Pruning of unknown fields, defaulting, OpenAPI v3 validation (through the
`jsonschema` library) and `x-kubernetes-validations` CEL rules (through
`cel-python`), each failure reported as a kube-style cause.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import celpy
import jsonschema
from celpy.adapter import json_to_cel
from celpy.evaluation import CELEvalError

__all__ = ["Cause", "apply_defaults", "check", "check_defaults", "prune", "unknown_fields"]

_KEEP = {"apiVersion", "kind", "metadata"}


@dataclass(frozen=True)
class Cause:
    reason: str  # FieldValueRequired | FieldValueInvalid | FieldValueNotSupported | ...
    field: str
    detail: str

    @property
    def message(self) -> str:
        return f"{self.field}: {self.detail}" if self.field else self.detail

    def to_json(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.detail, "field": self.field}


def prune(schema: dict[str, Any], value: Any, top: bool = True) -> Any:
    """Drop fields the schema does not declare (unless it preserves unknown fields)."""
    if isinstance(value, dict) and schema.get("type", "object") == "object":
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return value
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        result = {}
        for key, item in value.items():
            if top and key in _KEEP:
                result[key] = item
            elif properties is not None and key in properties:
                result[key] = prune(properties[key], item, top=False)
            elif isinstance(additional, dict):
                result[key] = prune(additional, item, top=False)
            elif additional is True:
                result[key] = item
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [prune(schema["items"], item, top=False) for item in value]
    return value


def unknown_fields(original: Any, pruned: Any, path: str = "") -> list[str]:
    """The dotted paths that pruning removed."""
    if isinstance(original, dict) and isinstance(pruned, dict):
        found: list[str] = []
        for key, value in original.items():
            here = f"{path}.{key}" if path else key
            found += [here] if key not in pruned else unknown_fields(value, pruned[key], here)
        return found
    if isinstance(original, list) and isinstance(pruned, list):
        return [
            f
            for n, (a, b) in enumerate(zip(original, pruned, strict=False))
            for f in unknown_fields(a, b, f"{path}[{n}]")
        ]
    return []


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Fill in `default`s for absent properties of objects that are present."""
    if isinstance(value, dict):
        result = dict(value)
        for key, sub in (schema.get("properties") or {}).items():
            if key not in result and "default" in sub:
                result[key] = copy.deepcopy(sub["default"])
            if key in result:
                result[key] = apply_defaults(sub, result[key])
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            for key in result:
                if key not in (schema.get("properties") or {}):
                    result[key] = apply_defaults(additional, result[key])
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [apply_defaults(schema["items"], item) for item in value]
    return value


def _field(path: list[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _quote(value: Any) -> str:
    return json.dumps(value) if isinstance(value, str) else json.dumps(value)[:200]


def _openapi_causes(schema: dict[str, Any], obj: dict[str, Any]) -> list[Cause]:
    causes = []
    validator = jsonschema.Draft4Validator(schema)
    for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        here, kind = _field(path), error.validator
        if kind == "required":
            missing = str(error.message).split("'")[1]
            causes.append(Cause("FieldValueRequired", _field([*path, missing]), "Required value"))
        elif kind == "enum":
            supported = ", ".join(_quote(v) for v in error.validator_value)
            causes.append(
                Cause(
                    "FieldValueNotSupported",
                    here,
                    f"Unsupported value: {_quote(error.instance)}: supported values: {supported}",
                )
            )
        elif kind == "type":
            causes.append(
                Cause(
                    "FieldValueTypeInvalid",
                    here,
                    f"Invalid value: {_quote(error.instance)}: {here} in body must be of type "
                    f"{error.validator_value}: {_quote(type(error.instance).__name__)}",
                )
            )
        elif kind == "pattern":
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    here,
                    f"Invalid value: {_quote(error.instance)}: {here} in body should match '{error.validator_value}'",
                )
            )
        elif kind in ("maxLength", "maxItems", "maxProperties"):
            causes.append(Cause("FieldValueTooLong", here, f"Too long: may not be more than {error.validator_value}"))
        else:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    here,
                    f"Invalid value: {_quote(error.instance)}: {here} in body {error.message}",
                )
            )
    return causes


@lru_cache(maxsize=512)
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def _cel_causes(schema: dict[str, Any], value: Any, old: Any, path: list[str | int]) -> list[Cause]:
    causes: list[Cause] = []
    for rule in schema.get("x-kubernetes-validations") or []:
        expression = rule["rule"]
        transition = "oldSelf" in expression
        if transition and old is None:
            continue
        activation = {"self": json_to_cel(value)}
        if transition:
            activation["oldSelf"] = json_to_cel(old)
        field = _field([*path, *[p for p in str(rule.get("fieldPath", "")).split(".") if p]])
        message = rule.get("message") or f"failed rule: {expression}"
        try:
            ok = _program(expression).evaluate(activation)
        except Exception:  # celpy raises several kinds; kube-apiserver words a runtime error like this
            ok = CELEvalError("evaluation error")
        if isinstance(ok, CELEvalError):
            detail = (
                f"Invalid value: {_quote(_describe(value))}: no such key or evaluation error evaluating rule: {message}"
            )
            causes.append(Cause("FieldValueInvalid", field, detail))
            continue
        if not bool(ok):
            reason = {"FieldValueRequired": "FieldValueRequired", "FieldValueForbidden": "FieldValueForbidden"}.get(
                str(rule.get("reason")), "FieldValueInvalid"
            )
            detail = (
                message if reason != "FieldValueInvalid" else f"Invalid value: {_quote(_describe(value))}: {message}"
            )
            causes.append(Cause(reason, field, detail))
    if isinstance(value, dict):
        old_map = old if isinstance(old, dict) else {}
        for key, sub in (schema.get("properties") or {}).items():
            if key in value:
                causes += _cel_causes(sub, value[key], old_map.get(key), [*path, key])
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            causes += _cel_causes(schema["items"], item, None, [*path, index])
    return causes


def _describe(value: Any) -> Any:
    if isinstance(value, dict):
        return "object"
    return "array" if isinstance(value, list) else value


def check_defaults(schema: dict[str, Any], path: str = "spec.validation.openAPIV3Schema") -> list[str]:
    """As kube-apiserver does when a CRD is written: every `default` must pass its node's CEL rules."""
    problems: list[str] = []
    if "default" in schema:
        for cause in _cel_causes(
            {"x-kubernetes-validations": schema.get("x-kubernetes-validations")}, schema["default"], None, []
        ):
            problems.append(
                f"{path}.default: Invalid value: {_quote(_describe(schema['default']))}: "
                f"{cause.detail.split(': ', 2)[-1]}"
            )
    for key, sub in (schema.get("properties") or {}).items():
        problems += check_defaults(sub, f"{path}.properties[{key}]")
    if isinstance(schema.get("items"), dict):
        problems += check_defaults(schema["items"], f"{path}.items")
    return problems


def check(schema: dict[str, Any], obj: dict[str, Any], old: dict[str, Any] | None) -> list[Cause]:
    """All causes for which kube-apiserver would refuse `obj` (empty when it is valid)."""
    body = {k: v for k, v in obj.items() if k not in _KEEP}
    causes = _openapi_causes(schema, body)
    if causes:
        return causes
    old_body = {k: v for k, v in (old or {}).items() if k not in _KEEP} if old is not None else None
    return _cel_causes(schema, body, old_body, [])
