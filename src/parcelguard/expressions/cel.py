"""CEL (Common Expression Language) for merchant rules, through ``common-expression-language``.

An expression is compiled and tried against sample values when it is saved, so syntax errors
(with line and column), unknown variables, type mismatches and non-boolean results are refused
then, not discovered on the first parcel. At run time one ``cel.Context`` is built per event or
reading and shared by all of a tenant's rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import cel

from parcelguard.domain.errors import InvalidInput

_POSITION = re.compile(r"<input>:(\d+):(\d+): (.*?)(?:\n|$)")
MAX_LENGTH = 4000


def _explain(exc: Exception) -> InvalidInput:
    text = str(exc)
    m = _POSITION.search(text)
    if m:
        line, column, what = m.groups()
        return InvalidInput("expression", f"line {line}, column {column}: {what}")
    return InvalidInput("expression", text.split("\n", 1)[0][:300])


class Compiled:
    def __init__(self, rules: Sequence[tuple[str, str]]) -> None:
        self.programs = {rule_id: cel.compile(expr) for rule_id, expr in rules}

    def matches(self, context: Mapping[str, object],
                rule_ids: Sequence[str]) -> list[tuple[str, bool | None]]:
        """Each rule's verdict; None when the expression could not be evaluated on this input
        (a null field compared with a number, say): the rule says nothing about it."""
        if not rule_ids:
            return []
        ctx = cel.Context()
        for name, value in context.items():
            ctx.add_variable(name, value)
        programs = self.programs
        out: list[tuple[str, bool | None]] = []
        for rule_id in rule_ids:
            try:
                result = programs[rule_id].execute(ctx)
            except (KeyError, TypeError, ValueError, RuntimeError):
                out.append((rule_id, None))
                continue
            out.append((rule_id, result if isinstance(result, bool) else None))
        return out


class CelExpressions:
    def check(self, expression: str, allowed: Mapping[str, Mapping[str, object]]) -> None:
        """Compile, check the variables against ``allowed`` and try it on those sample values;
        InvalidInput naming what is wrong (with line and column for syntax errors)."""
        if not expression.strip():
            raise InvalidInput("expression", "is empty")
        if len(expression) > MAX_LENGTH:
            raise InvalidInput("expression", f"is longer than {MAX_LENGTH} characters")
        try:
            program = cel.compile(expression)
        except (ValueError, RuntimeError, TypeError) as exc:
            raise _explain(exc) from None
        unknown = sorted(set(program.variables()) - set(allowed))
        if unknown:
            raise InvalidInput("expression", f"unknown variable {unknown[0]!r}: this rule can "
                                             f"read {', '.join(sorted(allowed))}")
        ctx = cel.Context()
        for name, value in allowed.items():
            ctx.add_variable(name, value)
        try:
            result = program.execute(ctx)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            what = str(exc).split("\n", 1)[0].split(". ", 1)[0][:200]
            raise InvalidInput("expression", f"cannot be evaluated: {what} (CEL does not convert "
                               "between types: compare doubles with 3.0, not 3)") from None
        if not isinstance(result, bool):
            raise InvalidInput("expression", f"must give true or false, it gives "
                                             f"{type(result).__name__} ({result!r:.40})")

    def compile(self, rules: Sequence[tuple[str, str]]) -> Compiled:
        return Compiled(rules)
