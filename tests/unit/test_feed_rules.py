"""The live feed's pure parts: positions, which events a stream carries, the shared tail."""

from __future__ import annotations

import pytest

from carelog.domain.feed import FeedFilter, FeedPosition, may_see
from carelog.services.feed.tail import TenantTail
from carelog.storage.feed import FeedEvent, FeedRead

pytestmark = pytest.mark.unit

EVERYTHING = FeedFilter(None, None)


def test_positions_round_trip_and_order() -> None:
    position = FeedPosition(48213, 1207)
    assert position.encode() == "48213-1207"
    assert FeedPosition.decode("48213-1207") == position
    assert FeedPosition(5, 900) < FeedPosition(6, 1) < FeedPosition(6, 2)
    for bad in ("", "42", "1-", "-1", "a-1", "1-1-1", " 1-1", "1-9223372036854775808"):
        assert FeedPosition.decode(bad) is None, bad


@pytest.mark.parametrize(
    ("labels", "visible", "shown"),
    [
        ((), frozenset(), True),
        (("ETH",), frozenset(), False),
        (("ETH",), frozenset({"ETH"}), True),
        (("ETH", "BH"), frozenset({"ETH"}), False),
        (("ETH", "BH"), None, True),
    ],
)
def test_labels_follow_the_event_lists_rule(
    labels: tuple[str, ...], visible: frozenset[str] | None, shown: bool
) -> None:
    assert (
        may_see(
            patient_id="P-1",
            event_type="note",
            labels=labels,
            feed=EVERYTHING,
            reach=None,
            visible_labels=visible,
        )
        is shown
    )


def test_patients_types_and_reach() -> None:
    feed = FeedFilter(frozenset({"P-1", "P-2"}), frozenset({"note"}))

    def sees(patient: str, kind: str, reach: frozenset[str] | None) -> bool:
        return may_see(
            patient_id=patient,
            event_type=kind,
            labels=(),
            feed=feed,
            reach=reach,
            visible_labels=None,
        )

    assert sees("P-1", "note", None)
    assert not sees("P-3", "note", None)
    assert not sees("P-1", "lab_result", None)
    assert not sees("P-2", "note", frozenset({"P-1"}))


def _event(tx: int, event_id: int) -> FeedEvent:
    return FeedEvent(FeedPosition(tx, event_id), "P-1", "note", (), "{}")


async def test_the_tail_keeps_its_newest_events_and_says_what_it_covers() -> None:
    tail = TenantTail(FeedPosition(10, 0), capacity=3, batch_size=2)
    pages = [
        FeedRead([_event(10, 1), _event(11, 2)], horizon=12, waiting=False),
        FeedRead([_event(11, 5)], horizon=14, waiting=True),
    ]
    asked: list[FeedPosition] = []

    async def read(after: FeedPosition) -> FeedRead:
        asked.append(after)
        return pages.pop(0)

    await tail.refresh(read, max_age=0)
    # A full page, then the rest; the position moves to the last horizon.
    assert asked == [FeedPosition(10, 0), FeedPosition(11, 2)]
    assert tail.scanned == FeedPosition(14, 0)
    assert tail.waiting
    assert [e.position.event_id for e in tail.events] == [1, 2, 5]
    assert [e.position.event_id for e in tail.after(FeedPosition(10, 1))] == [2, 5]
    # Not notified and fresh: no read.
    await tail.refresh(read, max_age=60)
    assert len(asked) == 2
    tail.dirty = True
    pages.append(FeedRead([_event(14, 9)], horizon=15, waiting=False))
    await tail.refresh(read, max_age=60)
    # Over its capacity it lets the oldest go, and covers only what follows them.
    assert [e.position.event_id for e in tail.events] == [2, 5, 9]
    assert tail.start == FeedPosition(10, 1)
    assert tail.covers(FeedPosition(10, 1))
    assert not tail.covers(FeedPosition(10, 0))
