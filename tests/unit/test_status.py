from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from parcelguard.domain.status import APPLIES, KEEPS, TAXONOMY, Effect, Status, Step, derive

S = Status


def steps(*pairs: tuple[int, Status]) -> list[Step]:
    return [Step(key, status, f"e{i}") for i, (key, status) in enumerate(pairs)]


def test_every_status_has_labels_and_a_transition_row() -> None:
    progress = set(S) - {S.EXCEPTION, S.UNKNOWN}
    assert set(TAXONOMY) == set(S)
    assert set(APPLIES) == progress == set(KEEPS)


def test_events_apply_in_event_time_order_not_arrival_order() -> None:
    derived, effects = derive(steps((3, S.DELIVERED), (1, S.PICKED_UP), (2, S.OUT_FOR_DELIVERY)))
    assert derived.status is S.DELIVERED
    assert set(effects.values()) == {Effect.APPLIED}


def test_a_backwards_move_is_recorded_and_not_applied() -> None:
    derived, effects = derive(steps((1, S.OUT_FOR_DELIVERY), (2, S.IN_TRANSIT)))
    assert derived.status is S.OUT_FOR_DELIVERY
    assert effects["e1"] is Effect.REGRESSION


def test_delivered_is_final_unless_a_return_follows() -> None:
    derived, effects = derive(steps((1, S.DELIVERED), (2, S.IN_TRANSIT)))
    assert derived.status is S.DELIVERED
    assert effects["e1"] is Effect.REGRESSION
    derived, _ = derive(steps((1, S.DELIVERED), (2, S.RETURNING), (3, S.RETURNED)))
    assert derived.status is S.RETURNED


def test_an_exception_is_applied_and_the_journey_resumes_after_it() -> None:
    derived, _ = derive(steps((1, S.IN_TRANSIT), (2, S.EXCEPTION)))
    assert derived.status is S.EXCEPTION
    assert derived.progress is S.IN_TRANSIT
    derived, effects = derive(steps((1, S.IN_TRANSIT), (2, S.EXCEPTION), (3, S.IN_TRANSIT)))
    assert derived.status is S.IN_TRANSIT
    assert effects["e2"] is Effect.APPLIED


def test_unknown_carrier_codes_stay_on_the_timeline_without_changing_status() -> None:
    derived, effects = derive(steps((1, S.IN_TRANSIT), (2, S.UNKNOWN)))
    assert derived.status is S.IN_TRANSIT
    assert effects["e1"] is Effect.KEPT


def test_scans_on_the_way_back_belong_to_the_return() -> None:
    derived, effects = derive(steps((1, S.RETURNING), (2, S.IN_TRANSIT), (3, S.RETURNED)))
    assert derived.status is S.RETURNED
    assert effects["e1"] is Effect.KEPT


def test_a_failed_attempt_may_go_back_to_the_depot() -> None:
    _, effects = derive(steps((1, S.OUT_FOR_DELIVERY), (2, S.FAILED_ATTEMPT), (3, S.IN_TRANSIT)))
    assert effects["e2"] is Effect.APPLIED


def test_changed_at_is_the_time_of_the_step_that_set_the_status() -> None:
    derived, _ = derive(steps((1, S.IN_TRANSIT), (5, S.IN_TRANSIT), (9, S.DELIVERED)))
    assert derived.changed_at == 9
    derived, _ = derive(steps((1, S.IN_TRANSIT), (5, S.IN_TRANSIT)))
    assert derived.changed_at == 1


status_steps = st.lists(
    st.tuples(st.integers(0, 50), st.sampled_from(list(S))), min_size=1, max_size=25
).map(lambda pairs: steps(*pairs))


@given(status_steps, st.randoms(use_true_random=False))
def test_the_derived_status_depends_only_on_the_set_of_steps(
    original: list[Step], rnd: object
) -> None:
    shuffled = list(original)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert derive(shuffled) == derive(original)


@given(status_steps)
def test_delivered_never_regresses_to_a_journey_status(original: list[Step]) -> None:
    derived, _ = derive(original)
    ordered = sorted(original, key=lambda s: (s.key, s.event_id))
    delivered_at = next((s for s in ordered if s.status is S.DELIVERED), None)
    if delivered_at is not None and derive(ordered[: ordered.index(delivered_at) + 1])[0].status \
            is S.DELIVERED:
        assert derived.progress in (S.DELIVERED, S.RETURNING, S.RETURNED)
        assert derived.status in (S.DELIVERED, S.RETURNING, S.RETURNED, S.EXCEPTION)
