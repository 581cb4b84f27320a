"""Several batches in flight: acks are cumulative, a lost ack costs nothing once a later one
arrives, and what is in flight is sent again only when acks stop moving for longer than they
usually take."""

from __future__ import annotations

import pytest

from edge import sync as edge_sync
from protocol import messages, topics
from tests.edge.test_sync_client import NODE, Central, broker, delivered, node, outbox  # noqa: F401

DOWN_ACK = topics.down(NODE, topics.DOWN_ACK)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock(node):  # noqa: F811
    node.clock = Clock()
    return node.clock


def sent(central) -> list[tuple[int, int]]:
    return [(b.events[0].seq, b.events[-1].seq) for b in central.of("events")]


def test_a_window_of_batches_is_in_flight_and_a_lost_ack_is_covered_by_the_next(broker, node, clock):  # noqa: F811
    central = Central(broker)
    outbox(450)
    node.start(threads=False)
    while node.send_batch():
        pass
    assert sent(central) == [(1, 100), (101, 200), (201, 300), (301, 400)]  # WINDOW batches, then wait
    assert edge_sync.WINDOW == 4 and node.send_batch() is False
    broker.drop_next(DOWN_ACK)
    central.send("ack", messages.Ack(100, node.incarnation))  # lost on the way
    assert delivered().count(True) == 0
    central.send("ack", messages.Ack(200, node.incarnation))  # cumulative: covers the lost one
    assert delivered().count(True) == 200
    assert node.send_batch() is True and sent(central)[-1] == (401, 450)  # room in the window again
    central.send("ack", messages.Ack(450, node.incarnation))
    assert all(delivered()) and node.in_flight == [] and node.resends == 0


def test_slow_acks_stretch_the_timeout_so_nothing_is_sent_twice(broker, node, clock):  # noqa: F811
    central = Central(broker)
    outbox(300)
    node.start(threads=False)
    assert node.ack_timeout() == edge_sync.ACK_TIMEOUT_S  # nothing timed yet
    while node.send_batch():
        pass
    clock.now += 8.0  # central is busy: its ack takes 8 s
    central.send("ack", messages.Ack(100, node.incarnation))
    assert node.ack_timeout() == pytest.approx(edge_sync.ACK_FACTOR * 8.0)
    clock.now += 20.0  # longer than the old fixed 10 s, shorter than 3 x 8 s
    assert node.send_batch() is False and len(central.of("events")) == 3 and node.resends == 0
    central.send("ack", messages.Ack(300, node.incarnation))
    assert all(delivered()) and node.resends == 0


def test_when_acks_stop_what_is_in_flight_is_sent_again_from_the_first_unacked_row(broker, node, clock):  # noqa: F811
    central = Central(broker)
    outbox(300)
    node.start(threads=False)
    while node.send_batch():
        pass
    clock.now += 0.5
    central.send("ack", messages.Ack(100, node.incarnation))  # fast acks: the timeout is the minimum
    assert node.ack_timeout() == edge_sync.ACK_MIN_S
    broker.drop_next(DOWN_ACK)
    central.send("ack", messages.Ack(300, node.incarnation))  # lost, and no later ack comes
    clock.now += edge_sync.ACK_MIN_S - 0.1
    assert node.send_batch() is False
    clock.now += 0.2
    assert node.send_batch() is True  # from the first row not acknowledged
    assert sent(central)[-1] == (101, 200) and node.resends == 2
    central.send("ack", messages.Ack(300, node.incarnation))  # central had them: its ack names 300 again
    assert all(delivered())


def test_batches_nobody_heard_are_sent_again_soon_one_at_a_time_until_central_answers(broker, node, clock):  # noqa: F811
    """After a broker restart the sync workers' shared subscriptions are gone until they subscribe
    again: the broker gives the batches to no one (PUBACK 16) and the edge does not wait out the
    ack timeout; while nobody listens it probes with one batch, ever later."""
    outbox(300)
    node.start(threads=False)
    assert node.send_batch() is True  # reaches no one; the broker says so at once here
    assert node.in_flight == [] and node.unheard == 1
    clock.now += edge_sync.UNHEARD_RETRY_S - 0.1
    assert node.send_batch() is False  # not at once: the workers are on their way
    clock.now += 0.1
    assert node.send_batch() is True and node.send_batch() is False  # one probe
    assert node.unheard == 2 and node.retry_s == 2 * edge_sync.UNHEARD_RETRY_S
    clock.now += 2 * edge_sync.UNHEARD_RETRY_S
    central = Central(broker)  # a worker subscribes
    assert node.send_batch() is True and node.send_batch() is False  # the probe is heard; no ack yet
    central.send("ack", messages.Ack(100, node.incarnation))  # central speaks: the window opens
    assert node.send_batch() and node.send_batch() and not node.send_batch()
    assert sent(central) == [(1, 100), (101, 200), (201, 300)]
    central.send("ack", messages.Ack(300, node.incarnation))
    assert all(delivered()) and node.resends == 0


def test_nobody_hearing_backs_off_to_the_cap(broker, node, clock):  # noqa: F811
    outbox(10)
    node.start(threads=False)
    for _ in range(20):
        clock.now += edge_sync.UNHEARD_RETRY_MAX_S
        node.send_batch()
    assert node.retry_s == edge_sync.UNHEARD_RETRY_MAX_S and node.in_flight == [] and node.unheard == 20


def test_the_rest_of_a_burst_nobody_heard_does_not_stretch_the_delay(broker, node, clock):  # noqa: F811
    outbox(10)
    node.start(threads=False)
    node.send_batch()
    node._on_unheard(topics.up(NODE, topics.UP_EVENTS))  # PUBACKs of the other batches of that burst
    node._on_unheard(topics.up(NODE, topics.UP_EVENTS))
    assert node.retry_s == edge_sync.UNHEARD_RETRY_S
