"""Blueprints: ordering by ``requires``, start/stop order, conditional and custom steps."""
from __future__ import annotations

import io
from typing import Any

import pytest

from celery import bootsteps


class Parent:
    def __init__(self) -> None:
        self.steps: list = []
        self.calls: list = []


def make_step(name: str, requires: tuple = (), **attrs: Any) -> type:
    def start(self: Any, parent: Parent) -> None:
        parent.calls.append(('start', name))

    def stop(self: Any, parent: Parent) -> None:
        parent.calls.append(('stop', name))

    def terminate(self: Any, parent: Parent) -> None:
        parent.calls.append(('terminate', name))

    namespace = {'requires': requires, 'start': start, 'stop': stop,
                 'terminate': terminate, '__module__': __name__, '__qualname__': name}
    namespace.update(attrs)
    return type(name, (bootsteps.StartStopStep,), namespace)


A = make_step('A')
B = make_step('B', requires=(A,))
C = make_step('C', requires=(B,))
Last = make_step('Last', last=True)


def test_step_names_and_labels() -> None:
    assert A.name == f'{__name__}.A'
    assert str(B) == f'step:{__name__}.B{{({A!r},)}}'
    step = A(Parent())
    assert step.alias == 'A'
    assert repr(step) == '<step: A>'

    class Named(bootsteps.Step):
        name = 'custom.name'
        label = 'Pretty'
    assert Named.name == 'custom.name'
    assert Named(Parent()).alias == 'Pretty'


def test_blueprint_orders_steps_by_requirements() -> None:
    # Given steps listed in the wrong order, one of them last
    bp = bootsteps.Blueprint([Last, C, A, B], name='test')
    parent = Parent()
    # When applied
    bp.apply(parent)
    # Then each step comes after what it requires, the last one last
    order = [s.alias for s in bp.order]
    assert order.index('A') < order.index('B') < order.index('C')
    assert order[-1] == 'Last'
    assert [s.alias for s in parent.steps] == order


def test_requirements_are_pulled_in_and_strings_resolved() -> None:
    bp = bootsteps.Blueprint([make_step('D', requires=(f'{__name__}:C',))])
    bp.apply(Parent())
    assert [s.alias for s in bp.order] == ['A', 'B', 'C', 'D']


def test_start_in_order_and_stop_in_reverse() -> None:
    bp = bootsteps.Blueprint([A, B, C])
    parent = Parent()
    bp.apply(parent)
    bp.start(parent)
    assert bp.state == bootsteps.RUN
    bp.stop(parent)
    assert parent.calls == [('start', 'A'), ('start', 'B'), ('start', 'C'),
                            ('stop', 'C'), ('stop', 'B'), ('stop', 'A')]
    assert bp.state == bootsteps.TERMINATE
    assert bp.shutdown_complete.is_set()
    # a second stop does nothing
    bp.stop(parent)
    assert len(parent.calls) == 6


def test_terminate_calls_terminate() -> None:
    bp = bootsteps.Blueprint([A])
    parent = Parent()
    bp.apply(parent)
    bp.start(parent)
    bp.stop(parent, terminate=True)
    assert parent.calls[-1] == ('terminate', 'A')


def test_stop_before_fully_started_does_not_call_steps() -> None:
    bp = bootsteps.Blueprint([A, B])
    parent = Parent()
    bp.apply(parent)
    bp.stop(parent)
    assert parent.calls == []
    assert bp.state == bootsteps.TERMINATE


def test_errors_while_stopping_are_logged_not_raised(caplog: Any) -> None:
    def bad_stop(self: Any, parent: Parent) -> None:
        raise RuntimeError('boom')
    Bad = make_step('Bad', stop=bad_stop)
    bp = bootsteps.Blueprint([A, Bad])
    parent = Parent()
    bp.apply(parent)
    bp.start(parent)
    bp.stop(parent)
    assert ('stop', 'A') in parent.calls
    assert 'Error on stopping Bad' in caplog.text


def test_conditional_steps_are_left_out_when_disabled() -> None:
    class Maybe(bootsteps.StartStopStep):
        conditional = True

        def __init__(self, parent: Parent, enabled: bool = False, **kwargs: Any) -> None:
            self.enabled = enabled

        def create(self, parent: Parent) -> Any:
            return self

    parent = Parent()
    bootsteps.Blueprint([Maybe]).apply(parent)
    assert parent.steps == []
    parent = Parent()
    bootsteps.Blueprint([Maybe]).apply(parent, enabled=True)
    assert len(parent.steps) == 1


def test_create_and_obj_start_stop() -> None:
    class Service:
        def __init__(self) -> None:
            self.started = self.stopped = False

        def start(self) -> None:
            self.started = True

        def stop(self) -> None:
            self.stopped = True

    class WithObj(bootsteps.StartStopStep):
        def create(self, parent: Parent) -> Service:
            return Service()

    parent = Parent()
    bp = bootsteps.Blueprint([WithObj]).apply(parent)
    step = parent.steps[0]
    bp.start(parent)
    bp.stop(parent)
    assert step.obj.started and step.obj.stopped


def test_a_dependency_cycle_is_an_error() -> None:
    X = make_step('X')
    Y = make_step('Y', requires=(X,))
    X.requires = (Y,)
    with pytest.raises(ValueError, match='cycle'):
        bootsteps.Blueprint([X, Y]).apply(Parent())


def test_graph_is_available_and_renders_dot() -> None:
    bp = bootsteps.Blueprint([C])
    bp.apply(Parent())
    assert B in bp.graph and bp.graph[B] == [A]
    out = io.StringIO()
    bp.graph.to_dot(out)
    assert '"B" -> "A"' in out.getvalue()


def test_send_all_and_info() -> None:
    class Informative(bootsteps.StartStopStep):
        def info(self, parent: Any) -> dict:
            return {'hello': 'world'}

    parent = Parent()
    bp = bootsteps.Blueprint([Informative]).apply(parent)
    assert bp.info(parent) == {'hello': 'world'}
    assert bp.human_state() == 'initializing'


class FakeConsumer:
    def __init__(self) -> None:
        self.consumed = self.cancelled = False
        self.channel = FakeChannel()

    def consume(self) -> None:
        self.consumed = True

    def cancel(self) -> None:
        self.cancelled = True


class FakeChannel:
    closed = False

    def close(self) -> None:
        self.closed = True


class FakeConnection:
    connection_errors: tuple = ()
    channel_errors: tuple = ()

    def channel(self) -> FakeChannel:
        return FakeChannel()


def test_consumer_step_starts_and_cancels_its_consumers() -> None:
    consumers = [FakeConsumer(), FakeConsumer()]

    class Custom(bootsteps.ConsumerStep):
        requires = ()

        def get_consumers(self, channel: Any) -> list:
            return consumers

    class C:
        connection = FakeConnection()

    step = Custom(C())
    step.start(C)
    assert all(c.consumed for c in consumers)
    step.stop(C)
    assert all(c.cancelled and c.channel.closed for c in consumers)
    assert step.consumers is None


def test_consumer_step_requires_the_connection_step() -> None:
    from celery.worker.consumer.connection import Connection
    assert bootsteps.ConsumerStep.requires == (Connection,)
    with pytest.raises(NotImplementedError):
        bootsteps.ConsumerStep(None).get_consumers(None)
