"""The ``celery amqp`` command: AMQP administration from the command line.

One sub-command per AMQP method, with the method's arguments as positional
arguments (booleans as ``yes``/``no``)::

    celery amqp exchange.declare EXCHANGE TYPE [PASSIVE DURABLE AUTO_DELETE]
    celery amqp exchange.delete EXCHANGE [IF_UNUSED]
    celery amqp queue.declare QUEUE [PASSIVE DURABLE AUTO_DELETE]
    celery amqp queue.delete QUEUE [IF_UNUSED IF_EMPTY]
    celery amqp queue.bind QUEUE EXCHANGE ROUTING_KEY
    celery amqp queue.purge QUEUE
    celery amqp basic.get QUEUE [NO_ACK]
    celery amqp basic.publish MESSAGE EXCHANGE ROUTING_KEY [MANDATORY IMMEDIATE]
    celery amqp basic.ack DELIVERY_TAG

``celery amqp repl`` reads such commands from the terminal on one
connection (so ``basic.ack`` can acknowledge what ``basic.get`` fetched);
it uses ``click-repl`` when installed, else a plain prompt.  Works with
other kombu transports too, except for what they do not implement; the
memory transport's state dies with the process.
"""
from __future__ import annotations

import shlex
from pprint import pformat
from typing import Any, Callable

import click

from celery.bin.base import CLIContext

__all__ = ('amqp', 'AMQPContext')

EX_FAILURE, EX_UNAVAILABLE = 1, 69


class AMQPContext:
    """One broker connection and channel, shared by the commands of a session.

    A command that fails prints the error and reconnects (a broker error
    closes the channel).  Outside the REPL the failure also ends the
    command with exit status 1, or 69 when the broker cannot be reached.
    """

    def __init__(self, cli_context: CLIContext, interactive: bool = False) -> None:
        self.cli_context = cli_context
        self.interactive = interactive
        self.connection: Any = None
        self.channel: Any = None

    @property
    def app(self) -> Any:
        return self.cli_context.app

    def say(self, message: str, **style: Any) -> None:
        if not self.cli_context.quiet:
            self.cli_context.secho(message, **style)

    def respond(self, retval: Any) -> None:
        self.cli_context.echo(retval if isinstance(retval, str) else pformat(retval))

    def echo_ok(self) -> None:
        self.cli_context.secho('ok.', fg='green', bold=True)

    def echo_error(self, exc: Any) -> None:
        self.cli_context.error(f'{self.cli_context.ERROR}: {exc}')

    def connect(self) -> Any:
        """The channel, connecting first if needed."""
        if self.channel is None:
            self.connection = self.app.connection_for_write()
            self.say(f'-> connecting to {self.connection.as_uri()}.')
            try:
                self.connection.connect()
            except Exception as exc:
                self.echo_error(f'cannot connect to {self.connection.as_uri()}: {exc}')
                self.close()
                raise click.exceptions.Exit(EX_UNAVAILABLE) from None
            self.say('-> connected.', fg='green', bold=True)
            self.channel = self.connection.default_channel
        return self.channel

    def close(self) -> None:
        if self.connection is not None:
            try:
                self.connection.release()
            except Exception:  # closing a broken connection may fail too
                pass
        self.connection = self.channel = None

    def run(self, fun: Callable[[Any], Any]) -> Any:
        """Call ``fun(channel)``; report an error, reconnect, and fail outside the REPL."""
        channel = self.connect()
        try:
            return fun(channel)
        except Exception as exc:
            self.echo_error(exc)
            self.close()
            if self.interactive:
                return None
            raise click.exceptions.Exit(EX_FAILURE) from None


def _context(ctx: click.Context) -> AMQPContext:
    obj = ctx.find_object(AMQPContext)
    if obj is None:  # pragma: no cover - the group always installs one
        raise click.UsageError('run this through: celery amqp ...')
    return obj


@click.group(name='amqp')
@click.pass_context
def amqp(ctx: click.Context, **kwargs: Any) -> None:
    """AMQP administration: declare, bind, delete, publish, get and ack."""
    if not isinstance(ctx.obj, AMQPContext):
        amqp_context = AMQPContext(ctx.obj)
        ctx.obj = amqp_context
        ctx.call_on_close(amqp_context.close)


def _command(name: str) -> Callable:
    return amqp.command(name=name)


@_command('exchange.declare')
@click.argument('exchange', type=str)
@click.argument('type', type=str)
@click.argument('passive', type=bool, default=False)
@click.argument('durable', type=bool, default=False)
@click.argument('auto_delete', type=bool, default=False)
@click.pass_context
def exchange_declare(ctx: click.Context, exchange: str, type: str,  # noqa: A002
                     passive: bool, durable: bool, auto_delete: bool) -> None:
    """Declare an exchange."""
    context = _context(ctx)
    done = context.run(lambda channel: channel.exchange_declare(
        exchange=exchange, type=type, passive=passive, durable=durable,
        auto_delete=auto_delete) or True)
    if done is not None:
        context.echo_ok()


@_command('exchange.delete')
@click.argument('exchange', type=str)
@click.argument('if_unused', type=bool, default=False)
@click.pass_context
def exchange_delete(ctx: click.Context, exchange: str, if_unused: bool) -> None:
    """Delete an exchange."""
    context = _context(ctx)
    done = context.run(lambda channel: channel.exchange_delete(
        exchange=exchange, if_unused=if_unused) or True)
    if done is not None:
        context.echo_ok()


@_command('queue.bind')
@click.argument('queue', type=str)
@click.argument('exchange', type=str)
@click.argument('routing_key', type=str)
@click.pass_context
def queue_bind(ctx: click.Context, queue: str, exchange: str, routing_key: str) -> None:
    """Bind a queue to an exchange with a routing key."""
    context = _context(ctx)
    done = context.run(lambda channel: channel.queue_bind(
        queue=queue, exchange=exchange, routing_key=routing_key) or True)
    if done is not None:
        context.echo_ok()


@_command('queue.declare')
@click.argument('queue', type=str)
@click.argument('passive', type=bool, default=False)
@click.argument('durable', type=bool, default=False)
@click.argument('auto_delete', type=bool, default=False)
@click.pass_context
def queue_declare(ctx: click.Context, queue: str, passive: bool, durable: bool,
                  auto_delete: bool) -> None:
    """Declare a queue; print its name, message count and consumer count."""
    context = _context(ctx)
    retval = context.run(lambda channel: channel.queue_declare(
        queue=queue, passive=passive, durable=durable, auto_delete=auto_delete))
    if retval is not None:
        name, messages, consumers = retval
        context.respond(f'queue:{name} messages:{messages} consumers:{consumers}')


def _deleted(context: AMQPContext, retval: Any) -> None:
    if retval is None:
        return
    if isinstance(retval, bool):  # the transport does not count
        context.echo_ok()
    else:
        context.respond(f'{retval} messages deleted.')


@_command('queue.delete')
@click.argument('queue', type=str)
@click.argument('if_unused', type=bool, default=False)
@click.argument('if_empty', type=bool, default=False)
@click.pass_context
def queue_delete(ctx: click.Context, queue: str, if_unused: bool, if_empty: bool) -> None:
    """Delete a queue; print how many messages went with it."""
    context = _context(ctx)

    def delete(channel: Any) -> Any:
        count = channel.queue_delete(queue=queue, if_unused=if_unused, if_empty=if_empty)
        return True if count is None else count

    _deleted(context, context.run(delete))


@_command('queue.purge')
@click.argument('queue', type=str)
@click.pass_context
def queue_purge(ctx: click.Context, queue: str) -> None:
    """Delete the waiting messages of a queue; print how many."""
    context = _context(ctx)

    def purge(channel: Any) -> Any:
        count = channel.queue_purge(queue=queue)
        return True if count is None else count

    _deleted(context, context.run(purge))


@_command('basic.get')
@click.argument('queue', type=str)
@click.argument('no_ack', type=bool, default=False)
@click.pass_context
def basic_get(ctx: click.Context, queue: str, no_ack: bool) -> None:
    """Fetch one message from a queue and print it."""
    context = _context(ctx)
    missing = object()

    def get(channel: Any) -> Any:
        message = channel.basic_get(queue, no_ack=no_ack)
        return missing if message is None else message

    message = context.run(get)
    if message is missing:
        context.respond('No messages in queue.')
    elif message is not None:
        context.respond({
            'body': getattr(message, 'body', None),
            'properties': getattr(message, 'properties', None),
            'delivery_info': getattr(message, 'delivery_info', None),
        })


@_command('basic.publish')
@click.argument('msg', type=str)
@click.argument('exchange', type=str)
@click.argument('routing_key', type=str)
@click.argument('mandatory', type=bool, default=False)
@click.argument('immediate', type=bool, default=False)
@click.pass_context
def basic_publish(ctx: click.Context, msg: str, exchange: str, routing_key: str,
                  mandatory: bool, immediate: bool) -> None:
    """Publish a message (its body as given) to an exchange."""
    context = _context(ctx)

    def publish(channel: Any) -> bool:
        message = channel.prepare_message(msg)
        channel.basic_publish(message, exchange=exchange, routing_key=routing_key,
                              mandatory=mandatory, immediate=immediate)
        return True

    if context.run(publish) is not None:
        context.echo_ok()


@_command('basic.ack')
@click.argument('delivery_tag', type=str)
@click.pass_context
def basic_ack(ctx: click.Context, delivery_tag: str) -> None:
    """Acknowledge a message fetched by basic.get in this session."""
    context = _context(ctx)
    tag: Any = int(delivery_tag) if delivery_tag.isdigit() else delivery_tag
    if context.run(lambda channel: channel.basic_ack(tag) or True) is not None:
        context.echo_ok()


@amqp.command(name='repl')
@click.pass_context
def repl(ctx: click.Context) -> None:
    """Read AMQP commands from the terminal, on one connection."""
    context = _context(ctx)
    context.interactive = True
    try:
        from click_repl import repl as click_repl
    except ImportError:
        click_repl = None
    if click_repl is not None:
        click_repl(ctx.parent or ctx)
        return
    _plain_repl(ctx, context)


def _plain_repl(ctx: click.Context, context: AMQPContext) -> None:
    """A small prompt loop: one AMQP command per line, ``exit`` or EOF to leave."""
    context.say('Type an AMQP command (e.g. queue.declare myqueue), help, or exit.')
    while True:
        try:
            line = input('celery amqp> ')
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        try:
            args = shlex.split(line)
        except ValueError as exc:
            context.echo_error(exc)
            continue
        if not args:
            continue
        if args[0] in ('exit', 'quit'):
            return
        if args[0] == 'help':
            click.echo(amqp.get_help(ctx.parent or ctx))
            continue
        if args[0] == 'repl':
            continue
        try:
            amqp.main(args, prog_name='celery amqp', obj=context, standalone_mode=False)
        except click.exceptions.Exit:
            pass
        except click.ClickException as exc:
            exc.show()
