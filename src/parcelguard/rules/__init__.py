"""Alert rules: pure functions over domain objects, on the event-time clock.

Rules read a shipment's events and readings and say when a condition holds and when it ends
(:class:`parcelguard.domain.alerts.Signal`), and which moments they want to be woken at
(timers). They never look at a wall clock, never do I/O, and import no framework.
"""
