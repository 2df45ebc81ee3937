"""Merchant rules without I/O: which fields an expression reads, the context, the verdicts."""

from __future__ import annotations

import pytest

from parcelguard.domain.alerts import Kind, Severity
from parcelguard.domain.custom import CustomRule, Trigger
from parcelguard.domain.errors import InvalidInput
from parcelguard.domain.events import Condition, Location, TrackingEvent
from parcelguard.domain.status import Status
from parcelguard.domain.telemetry import Reading
from parcelguard.expressions.cel import CelExpressions
from parcelguard.rules import custom
from parcelguard.rules.custom import Facts
from parcelguard.rules.profiles import Profile
from parcelguard.rules.watch import HOUR, Watch
from parcelguard.services import merchant
from parcelguard.services.merchant import MerchantRules
from parcelguard.storage.memory import MemoryStore
from tests.factories import at, shipment

AT = int(at(5).timestamp() * 1_000_000)


def test_references_skip_string_literals_and_see_whole_variables() -> None:
    assert custom.references('event.description.contains("shipment.nope") && stats.open_alerts '
                             '== 0') == {"event": frozenset({"description"}),
                                         "stats": frozenset({"open_alerts"})}
    assert custom.references("'damaged' in event && event.city == 'x'") == {"event": None}
    assert custom.references("[1].exists(x, x > 0)") == {}


def test_an_unknown_field_is_named_with_its_line_and_column() -> None:
    with pytest.raises(InvalidInput) as e:
        custom.references("event.status == 'x' &&\n shipment.weight > 1.0")
    assert e.value.message.startswith(
        "expression: line 2, column 11: shipment has no field 'weight'")


def _facts(**extra: object) -> Facts:
    s = shipment()
    watch = Watch.of(s, Profile())
    watch.pickup_us = AT - 2 * HOUR
    base: dict[str, object] = {"shipment": s, "watch": watch, "status": Status.IN_TRANSIT,
                               "event_count": 3, "open_alerts": 1, "at_us": AT}
    return Facts(**{**base, **extra})  # type: ignore[arg-type]


def test_the_context_holds_only_the_fields_wanted() -> None:
    event = TrackingEvent("e1", "SF1400000001", "sf", at(5), Status.IN_TRANSIT,
                          location=Location(facility_id="HUB-SHA", city="上海"))
    ctx = custom.context(_facts(event=event), {"event": frozenset({"city"}),
                                               "stats": frozenset({"hours_since_pickup"}),
                                               "shipment": None})
    assert ctx["event"] == {"city": "上海"}
    assert ctx["stats"] == {"hours_since_pickup": 2.0}
    assert ctx["shipment"]["status"] == "in_transit"  # type: ignore[index]
    assert set(ctx["shipment"]) == set(custom.FIELDS["shipment"])  # type: ignore[arg-type]


def _plan(*rules: tuple[str, str, Trigger]) -> merchant.Plan:
    loader = MerchantRules(CelExpressions())
    loader.load([CustomRule(f"r{i}", "acme", name, expr, on, Severity.CRITICAL)
                 for i, (name, expr, on) in enumerate(rules)])
    plan = loader.plan("acme", rules[0][2])
    assert plan is not None
    return plan


def test_verdicts_raise_clear_or_say_nothing() -> None:
    plan = _plan(("hot", "reading.temperature_c > 8.0", Trigger.READING),
                 ("moving", "reading.speed_kmh > 0.0", Trigger.READING))
    reading = Reading("LOG-1", at(5), temperature_c=9.5)  # no speed: "moving" cannot say
    [hot] = merchant.signals(plan, _facts(reading=reading, source="device:LOG-1"), AT,
                             {"device_id": "LOG-1"})
    assert (hot.rule, hot.kind, hot.raised, hot.at_us, hot.severity) == (
        "custom:r0", Kind.CUSTOM, True, AT, Severity.CRITICAL)
    assert hot.evidence["values"] == {"reading.temperature_c": 9.5}
    cool = Reading("LOG-1", at(6), temperature_c=4.0, speed_kmh=0.0)
    verdicts = merchant.signals(plan, _facts(reading=cool), AT, {}, active={"custom:r0"})
    assert [(s.rule, s.raised) for s in verdicts] == [("custom:r0", False)]  # r1 had no alert
    assert merchant.signals(plan, _facts(reading=cool), AT, {}) == []


def test_timestamps_in_evidence_are_iso_8601() -> None:
    plan = _plan(("late", "event.occurred_at > timestamp('2026-11-20T00:00:00Z')", Trigger.EVENT))
    event = TrackingEvent("e1", "SF1400000001", "sf", at(5), Status.IN_TRANSIT)
    [s] = merchant.signals(plan, _facts(event=event), AT, {})
    assert s.evidence["values"] == {"event.occurred_at": "2026-11-20T05:00:00Z"}


def test_the_writer_rereads_rules_only_when_they_changed_and_not_more_than_once_a_second() -> None:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.commit()
    now = [100.0]
    rules = MerchantRules(CelExpressions(), monotonic=lambda: now[0])
    rule = merchant.create(store, rules.expressions, "acme", "r", "true", Trigger.EVENT,
                           Severity.INFO, 0)
    with store.unit_of_work(write=False) as uow:
        rules.refresh(uow)
        assert len(rules) == 1
        merchant.change(store, rules.expressions, "acme", rule.rule_id, 1, enabled=False)
        now[0] += 0.5
        rules.refresh(uow)
        assert len(rules) == 1  # not looked at yet
        now[0] += 0.6
        rules.refresh(uow)
        assert len(rules) == 0
        merchant.change(store, rules.expressions, "acme", rule.rule_id, 2, enabled=True)
        rules.invalidate()
        rules.refresh(uow)
        assert len(rules) == 1


def test_a_stored_rule_that_no_longer_validates_is_skipped_not_fatal() -> None:
    rules = MerchantRules(CelExpressions())
    rules.load([CustomRule("bad", "acme", "bad", "event.gone == 1", Trigger.EVENT, Severity.INFO),
                CustomRule("ok", "acme", "ok", "true", Trigger.EVENT, Severity.INFO)])
    plan = rules.plan("acme", Trigger.EVENT)
    assert plan is not None
    assert list(plan.rules) == ["ok"]


def test_a_tenant_has_at_most_max_rules() -> None:
    store = MemoryStore()
    with store.unit_of_work() as uow:
        uow.tenants.add("acme", "ACME", 0)
        uow.commit()
    for i in range(merchant.MAX_RULES):
        merchant.create(store, CelExpressions(), "acme", f"r{i}", "true", Trigger.EVENT,
                        Severity.INFO, i)
    with pytest.raises(Exception, match="at most 200 rules"):
        merchant.create(store, CelExpressions(), "acme", "one more", "true", Trigger.EVENT,
                        Severity.INFO, 0)


def test_docs_list_every_field_of_the_context() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "rules.md").read_text()
    for var, fields in custom.FIELDS.items():
        for name in fields:
            assert f"`{var}.{name}`" in text


def test_every_documented_example_is_a_valid_rule() -> None:
    import re
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "rules.md").read_text().split("## Examples")[1]
    examples = re.findall(r"\| (event|reading) \| `(.+?)` \|", text)
    assert len(examples) == 7
    for on, expression in examples:
        merchant.validate(CelExpressions(), expression, Trigger(on))


@pytest.mark.parametrize(("expression", "expected"), [
    ("event.status == 'exception' && shipment.declared_value > 1.0",
     [("event", "status", {"exception"})]),
    ("shipment.declared_value > 1.0 && event.condition in ['damaged', \"wet\"]",
     [("event", "condition", {"damaged", "wet"})]),
    ("'上海' == event.city && event.description == 'a && b || c'",
     [("event", "city", {"上海"}), ("event", "description", {"a && b || c"})]),
    ("event.city == 'x' && (stats.open_alerts > 0 || true)", [("event", "city", {"x"})]),
])
def test_guards_are_top_level_conjuncts_on_string_fields(
        expression: str, expected: list[tuple[str, str, set[str]]]) -> None:
    assert [(n, f, set(v)) for n, f, v in custom.guards(expression)] == expected


@pytest.mark.parametrize("expression", [
    "event.city == 'x' || stats.open_alerts > 0",  # either side decides
    "event.city == 'x' && stats.open_alerts > 0 ? true : false",
    "(event.city == 'x' && stats.open_alerts > 0)",
    "!(event.city == 'x') && true",
    "event.city != 'x' && true",
    "event.city == 'it\\'s' && true",  # escapes: left to CEL
    "reading.seq == '1' && true",  # not a string field
    "stats.event_count == 1",
])
def test_no_guard_where_one_operand_does_not_decide_the_whole(expression: str) -> None:
    assert custom.guards(expression) == []


def test_guards_skip_rules_without_changing_a_verdict() -> None:
    """Over a grid of inputs, the guarded plan gives exactly the verdicts of every rule run."""
    expressions = [
        "event.status == 'exception' && stats.open_alerts >= 0",
        "event.condition in ['damaged', 'wet'] && shipment.declared_value > 100.0",
        "'上海' == event.city",
        "event.city == '上海' || event.status == 'delivered'",
        "event.facility_id == 'HUB-SHA' && event.city == '上海' && stats.dwell_minutes > 5.0",
        "shipment.category == 'general' && event.status in ['in_transit', 'exception']",
    ]
    plan = _plan(*((f"n{i}", e, Trigger.EVENT) for i, e in enumerate(expressions)))
    everything = list(plan.rules)
    assert plan.unguarded == ("r3",)
    for status in (Status.IN_TRANSIT, Status.EXCEPTION, Status.DELIVERED):
        for city, facility in (("上海", "HUB-SHA"), ("北京", None), (None, None)):
            for condition in (None, Condition.DAMAGED, Condition.INTACT):
                event = TrackingEvent(
                    "e1", "SF1400000001", "sf", at(5), status, condition=condition,
                    location=Location(facility_id=facility, city=city) if city else None)
                facts = _facts(event=event)
                ctx = custom.context(facts, plan.wanted)
                full = dict(plan.program.matches(ctx, everything))
                picked = plan.candidates(facts, ())
                assert all(full[r] is not True for r in everything if r not in picked), ctx
                assert dict(plan.program.matches(ctx, picked)) == {r: full[r] for r in picked}
    # a rule with an active alert runs whatever its guard says, so that it can clear
    facts = _facts(event=TrackingEvent("e2", "SF1400000001", "sf", at(6), Status.IN_TRANSIT))
    assert "r0" not in plan.candidates(facts, ())
    assert plan.candidates(facts, {"custom:r0", "delivery_late"})[0] == "r0"
    assert plan.wanted_by(("r0", "r2")) == {"event": {"status", "city"}, "stats": {"open_alerts"}}
