"""Merchant rules: managing them, and running them in the writer.

A rule is validated when saved (syntax with line and column, known variables and fields, a
boolean result on sample values). The writer keeps every tenant's enabled rules compiled and
notices changes, whoever made them (the API in this process, ``parcelguard rules`` in another),
by comparing the rules' version at most once a second; the API also tells it at once.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace

import structlog

from parcelguard.domain.alerts import Kind, Severity, Signal
from parcelguard.domain.custom import (
    VARIABLES,
    CustomRule,
    Trigger,
    alert_rule,
    check_name,
    check_variables,
)
from parcelguard.domain.errors import Conflict, InvalidInput, NotFound
from parcelguard.rules import custom
from parcelguard.rules.custom import Facts, Fields
from parcelguard.services.ports import Expressions, Program, Store, UnitOfWork

log = structlog.get_logger(__name__)
MAX_RULES = 200  # per tenant: every rule runs on every event of the tenant
POLL_SECONDS = 1.0


def validate(expressions: Expressions, expression: str, on: Trigger) -> Fields:
    """The fields the expression reads, or InvalidInput saying what is wrong with it."""
    fields = custom.references(expression)
    check_variables(set(fields), on)
    expressions.check(expression, {name: custom.SAMPLE[name] for name in VARIABLES[on.value]})
    return fields


def create(store: Store, expressions: Expressions, tenant_id: str, name: str, expression: str,
           on: Trigger, severity: Severity, now_us: int) -> CustomRule:
    name = check_name(name)
    validate(expressions, expression, on)
    rule = CustomRule("rule_" + secrets.token_hex(8), tenant_id, name, expression, on, severity,
                      True, now_us, now_us)
    with store.unit_of_work() as uow:
        if not uow.tenants.exists(tenant_id):
            raise NotFound(f"no tenant {tenant_id!r}")
        existing = uow.rules.of_tenant(tenant_id)
        if any(r.name == name for r in existing):
            raise Conflict(f"a rule named {name!r} exists already")
        if len(existing) >= MAX_RULES:
            raise Conflict(f"a tenant can have at most {MAX_RULES} rules; delete one first")
        uow.rules.add(rule)
        uow.commit()
    return rule


def change(store: Store, expressions: Expressions, tenant_id: str, rule_id: str, now_us: int, *,
           name: str | None = None, expression: str | None = None,
           severity: Severity | None = None, enabled: bool | None = None) -> CustomRule:
    with store.unit_of_work() as uow:
        rule = _get(uow, tenant_id, rule_id)
        if name is not None:
            name = check_name(name)
            if any(r.name == name and r.rule_id != rule_id for r in uow.rules.of_tenant(tenant_id)):
                raise Conflict(f"a rule named {name!r} exists already")
        if expression is not None:
            validate(expressions, expression, rule.on)
        after = replace(rule, name=name or rule.name, expression=expression or rule.expression,
                        severity=severity or rule.severity,
                        enabled=rule.enabled if enabled is None else enabled,
                        updated_at_us=now_us)
        uow.rules.update(after)
        uow.commit()
    return after


def delete(store: Store, tenant_id: str, rule_id: str, now_us: int) -> None:
    """The rule stops; its alerts stay, still naming it."""
    with store.unit_of_work() as uow:
        _get(uow, tenant_id, rule_id)
        uow.rules.delete(tenant_id, rule_id, now_us)
        uow.commit()


def get(store: Store, tenant_id: str, rule_id: str) -> CustomRule:
    with store.unit_of_work(write=False) as uow:
        return _get(uow, tenant_id, rule_id)


def _get(uow: UnitOfWork, tenant_id: str, rule_id: str) -> CustomRule:
    rule = uow.rules.get(tenant_id, rule_id)
    if rule is None:
        raise NotFound(f"no rule {rule_id!r}")
    return rule


@dataclass(frozen=True, slots=True)
class Plan:
    """One tenant's enabled rules on one trigger, compiled together.

    Most merchant rules start with a condition like ``event.status == 'exception'``. Each such
    rule is filed under one of its guards, so an input runs only the rules whose guard its
    values pass, the unguarded ones, and those with an alert active on the shipment (which
    must see the input to clear). The verdicts are exactly those of running every rule. Only
    the fields those rules read are converted into CEL values (a few microseconds each).
    """

    rules: dict[str, CustomRule]
    fields: dict[str, Fields]  # rule id -> the fields it reads
    wanted: Fields  # every field any of them reads: the only ones built per input
    program: Program
    position: dict[str, int]  # rule id -> its place, so verdicts come in one stable order
    unguarded: tuple[str, ...]
    guarded: dict[tuple[str, str], dict[str, list[str]]]  # (variable, field) -> value -> ids
    by_alert_rule: dict[str, str]  # the alerts' rule key -> rule id
    _wanted_by: dict[tuple[str, ...], Fields] = field(default_factory=dict)
    _picked_by: dict[tuple[object, ...], tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, rules: dict[str, CustomRule], fields: dict[str, Fields],
           program: Program) -> Plan:
        wanted: Fields = {}
        unguarded: list[str] = []
        guarded: dict[tuple[str, str], dict[str, list[str]]] = {}
        for rule_id, rule in rules.items():
            custom.merge(wanted, fields[rule_id])
            found = custom.guards(rule.expression)
            if not found:
                unguarded.append(rule_id)
                continue
            name, field_name, values = found[0]
            by_value = guarded.setdefault((name, field_name), {})
            for value in sorted(values):
                by_value.setdefault(value, []).append(rule_id)
        return cls(rules, fields, wanted, program, {r: i for i, r in enumerate(rules)},
                   tuple(unguarded), guarded, {r.rule: r.rule_id for r in rules.values()})

    def candidates(self, facts: Facts, active: Collection[str]) -> tuple[str, ...]:
        """The rules that can hold on this input or must see it to clear, in rule order."""
        values = tuple(custom.FIELDS[name][field_name][1](facts) for name, field_name in self.guarded)
        picked = self._picked_by.get(values)
        if picked is None:  # a few combinations of statuses, cities, categories recur
            found = set(self.unguarded)
            for value, by_value in zip(values, self.guarded.values(), strict=True):
                if isinstance(value, str):
                    found.update(by_value.get(value, ()))
            picked = tuple(sorted(found, key=self.position.__getitem__))
            if len(self._picked_by) > 4096:
                self._picked_by.clear()
            self._picked_by[values] = picked
        alerting = [rule_id for key in active if (rule_id := self.by_alert_rule.get(key))]
        if alerting:
            picked = tuple(sorted({*picked, *alerting}, key=self.position.__getitem__))
        return picked

    def wanted_by(self, rule_ids: tuple[str, ...]) -> Fields:
        """The fields these rules read (the same few sets recur, so they are remembered)."""
        found = self._wanted_by.get(rule_ids)
        if found is None:
            found = {}
            for rule_id in rule_ids:
                custom.merge(found, self.fields[rule_id])
            if len(self._wanted_by) > 4096:
                self._wanted_by.clear()
            self._wanted_by[rule_ids] = found
        return found


class MerchantRules:
    def __init__(self, expressions: Expressions, poll_seconds: float = POLL_SECONDS,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.expressions = expressions
        self.poll_seconds, self.monotonic = poll_seconds, monotonic
        self._plans: dict[tuple[str, Trigger], Plan] = {}
        self._version: tuple[int, int] | None = None
        self._checked = float("-inf")

    def invalidate(self) -> None:
        """Rules changed in this process: look at the store before the next batch."""
        self._checked = float("-inf")

    def refresh(self, uow: UnitOfWork) -> None:
        now = self.monotonic()
        if now - self._checked < self.poll_seconds:
            return
        self._checked = now
        version = uow.rules.version()
        if version != self._version:
            self.load(uow.rules.enabled())
            self._version = version

    def load(self, rules: list[CustomRule]) -> None:
        grouped: dict[tuple[str, Trigger], list[CustomRule]] = {}
        for rule in rules:
            grouped.setdefault((rule.tenant_id, rule.on), []).append(rule)
        plans = {}
        for key, group in grouped.items():
            usable: dict[str, CustomRule] = {}
            fields: dict[str, Fields] = {}
            for rule in group:
                try:
                    fields[rule.rule_id] = validate(self.expressions, rule.expression, rule.on)
                except InvalidInput as exc:  # saved by an older version with other checks
                    log.warning("rule.skipped", rule_id=rule.rule_id, reason=exc.message)
                    continue
                usable[rule.rule_id] = rule
            program = self.expressions.compile([(r.rule_id, r.expression)
                                                for r in usable.values()])
            plans[key] = Plan.of(usable, fields, program)
        self._plans = plans
        log.info("rules.loaded", rules=sum(len(p.rules) for p in plans.values()))

    def plan(self, tenant_id: str, on: Trigger) -> Plan | None:
        return self._plans.get((tenant_id, on))

    def __len__(self) -> int:
        return sum(len(p.rules) for p in self._plans.values())


def signals(plan: Plan, facts: Facts, at_us: int, ref: Mapping[str, object],
            active: Collection[str] = frozenset()) -> list[Signal]:
    """The rules' verdicts on one input: raise while one holds, clear an ``active`` one when
    it stops holding; a rule that cannot be evaluated on this input (a null field) says
    nothing."""
    picked = plan.candidates(facts, active)
    if not picked:
        return []
    ctx = custom.context(facts, plan.wanted_by(picked))
    out = []
    for rule_id, verdict in plan.program.matches(ctx, picked):
        if verdict is None:
            continue
        if not verdict:
            if active and (key := alert_rule(rule_id)) in active:
                out.append(Signal(key, Kind.CUSTOM, False, at_us))
            continue
        rule = plan.rules[rule_id]
        evidence = {"rule_id": rule.rule_id, "name": rule.name, "expression": rule.expression,
                    **ref, "values": custom.evidence(ctx, plan.fields[rule_id])}
        out.append(Signal(rule.rule, Kind.CUSTOM, True, at_us, rule.severity, evidence))
    return out
