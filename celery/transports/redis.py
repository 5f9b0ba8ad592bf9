"""kombu's Redis transport, with messages fetched and recorded as unacked in one step.

kombu pops a message with ``BRPOP`` and, in a second round trip, writes it
to the ``unacked`` hash and ``unacked_index`` sorted set.  A worker killed,
or a server restarted, between the two loses the message.  Here one Lua
script (``EVALSHA``) pops up to the free prefetch slots of messages and
records each of them as unacked, atomically: a message is always in a
queue or in ``unacked``, where kombu's ``restore_visible`` finds it after
the visibility timeout.  When the queues are empty the channel waits with
``BLMOVE key key RIGHT RIGHT`` (moves nothing: wakes up when the base key
of the first queue gets a message), with the next fetch sent in the same
write so that Redis runs it as soon as the wait ends; other keys (priority
levels, other queues) are looked at every ``batch_fetch_idle_wait``
seconds.  ``BLMOVE`` needs Redis >= 6.2: older servers get kombu's stock
``BRPOP``, with one warning.

Acks (and rejects without requeue) are collected and sent together, once
per event loop tick (with the next fetch when one goes out: the script
removes them first), and before the channel closes; outside an event loop
they are sent at once.

Everything else (publishing, the wire format, fanout, restore, the
visibility timeout sweep) is kombu's.  One channel is used by one thread;
acks may come from others.
"""
from __future__ import annotations

import hashlib
from collections import deque
from contextlib import contextmanager
from queue import Empty
from time import monotonic, time
from typing import Any, Iterator

import kombu
from kombu.transport import redis as kredis
from kombu.transport import virtual
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads
from redis.exceptions import NoScriptError

from celery.transports import BATCH_FETCH_OPTION, REDIS_NAMES
from celery.utils._pool_queue import pool_queue
from celery.utils.log import get_logger

__all__ = ('Connection', 'Transport', 'Channel', 'QoS', 'FETCH_SCRIPT', 'MIN_SERVER')

logger = get_logger(__name__)

#: Oldest server with ``BLMOVE`` (the idle wait that consumes nothing).
MIN_SERVER = (6, 2)

#: KEYS: the queue keys, level by level (``width`` queues a level), then the
#: unacked hash and index.  ARGV: most messages to take, the time to record,
#: ``width``, then delivery tags to ack first.  Takes one message per queue
#: in turn within a level (kombu's BRPOP and rotation do the same), higher
#: levels first.  Returns ``[key number, tag, raw message, ...]``; the tag is
#: '' for a message that could not be recorded (not JSON, or no tag).
FETCH_SCRIPT = """
local nkeys = #KEYS - 2
local hash, index = KEYS[nkeys + 1], KEYS[nkeys + 2]
local limit, now, width = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
if #ARGV > 3 then
  redis.call('ZREM', index, unpack(ARGV, 4))
  redis.call('HDEL', hash, unpack(ARGV, 4))
end
local out, taken = {}, 0
for first = 1, nkeys, width do
  local live = {}
  for i = first, first + width - 1 do live[#live + 1] = i end
  while taken < limit and #live > 0 do
    local still = {}
    for _, i in ipairs(live) do
      if taken >= limit then break end
      local raw = redis.call('RPOP', KEYS[i])
      if raw then
        taken = taken + 1
        local tag = ''
        local ok, message = pcall(cjson.decode, raw)
        if ok and type(message) == 'table' and type(message.properties) == 'table'
            and type(message.properties.delivery_tag) == 'string' then
          local props = message.properties
          local info = props.delivery_info
          local exchange, routing_key = cjson.null, cjson.null
          if type(info) == 'table' then
            if info.exchange ~= nil then exchange = info.exchange end
            if info.routing_key ~= nil then routing_key = info.routing_key end
          end
          tag = props.delivery_tag
          redis.call('HSET', hash, tag, '[' .. raw .. ',' .. cjson.encode(exchange) .. ','
                     .. cjson.encode(routing_key) .. ']')
          redis.call('ZADD', index, now, tag)
        end
        out[#out + 1] = i
        out[#out + 1] = tag
        out[#out + 1] = raw
        still[#still + 1] = i
      end
    end
    live = still
  end
  if taken >= limit then break end
end
return out
"""
FETCH_SHA = hashlib.sha1(FETCH_SCRIPT.encode()).hexdigest()

#: Acks carried by one fetch at most (the rest go in a pipeline).
MAX_ACKS_PER_FETCH = 512

W_UNDECODABLE = 'Cannot decode message from queue %r, dropped: %r'
W_OLD_SERVER = ('Redis server %s has no BLMOVE (needs >= 6.2): consuming with '
                "kombu's BRPOP, which can lose a message popped when the worker dies")

_warned_old_server = False

_FETCH, _WAIT = 'EVALSHA', 'BLMOVE'


def _server_version(client: Any) -> tuple[int, ...] | None:
    try:
        text = client.info('server').get('redis_version')
        return tuple(int(part) for part in str(text).split('.')[:2])
    except Exception:  # no INFO (renamed), or an odd version string
        return None


class QoS(kredis.QoS):
    """kombu's Redis QoS; messages the fetch recorded are not written again; acks batched."""

    #: Tells the worker's task consumer not to batch acks in front of us.
    batches_acks = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Tag of the message being delivered that the fetch script recorded.
        self._recorded: str | None = None
        #: Tags acked (or rejected) here and not yet removed from Redis.
        self._acks: deque = deque()

    def append(self, message: Any, delivery_tag: str) -> None:
        if delivery_tag == self._recorded:
            self._recorded = None
            virtual.QoS.append(self, message, delivery_tag)
        else:  # another path (basic_get, an old server): kombu's write
            super().append(message, delivery_tag)

    def ack(self, delivery_tag: str) -> None:
        self._acks.append(delivery_tag)
        virtual.QoS.ack(self, delivery_tag)
        if not self._batching():
            self.flush_acks()

    def reject(self, delivery_tag: str, requeue: bool = False) -> None:
        if requeue:
            super().reject(delivery_tag, requeue=True)
        else:
            self.ack(delivery_tag)

    def _drop(self, delivery_tag: str) -> None:
        """Forget the unacked record of a message nobody holds (sent with the next acks)."""
        self._acks.append(delivery_tag)

    def _batching(self) -> bool:
        channel = self.channel
        connection = channel.connection
        return (not channel.closed and connection is not None and
                getattr(connection.cycle, 'batch_acks', False))

    def take_acks(self, limit: int | None = None) -> list:
        """Remove and return the pending ack tags (at most ``limit``)."""
        acks, tags = self._acks, []
        while acks and (limit is None or len(tags) < limit):
            try:
                tags.append(acks.popleft())
            except IndexError:  # taken by another thread meanwhile
                break
        return tags

    def give_back_acks(self, tags: list) -> None:
        """Put tags whose removal may not have happened back in front (removal is idempotent)."""
        self._acks.extendleft(reversed(tags))

    def flush_acks(self) -> int:
        """Remove the acked messages from the unacked hash and index: one round trip."""
        tags = self.take_acks()
        if not tags:
            return 0
        try:
            with self.pipe_or_acquire() as pipe:
                pipe.zrem(self.unacked_index_key, *tags) \
                    .hdel(self.unacked_key, *tags).execute()
        except BaseException:
            self.give_back_acks(tags)
            raise
        return len(tags)

    def restore_unacked(self, client: Any = None) -> None:
        # an acked message must not be restored: its ack goes out first
        self.flush_acks()
        return super().restore_unacked(client)


class Channel(kredis.Channel):
    """kombu's Redis channel consuming through :data:`FETCH_SCRIPT` and ``BLMOVE``."""

    QoS = QoS

    #: Most messages one fetch takes (fewer when the prefetch has fewer free slots).
    batch_fetch_size = 64
    #: Idle wait (s) between fetches when more than one key can get messages.
    batch_fetch_idle_wait = 0.1

    from_transport_options = kredis.Channel.from_transport_options + (
        'batch_fetch_size', 'batch_fetch_idle_wait')

    #: What is in flight on the consuming connection: (commands, queues, acks, limit).
    _in_flight: tuple | None = None
    #: The last fetch left the queues empty: wait before the next one.
    _idle = False
    _sync_client: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batch_fetch = self.connection.can_batch_fetch(self)

    # -- consuming -----------------------------------------------------------------------

    def _brpop_start(self, timeout: float | None = None) -> None:
        if not self._batch_fetch:
            return super()._brpop_start(timeout)
        queues = self._queue_cycle.consume(len(self.active_queues))
        if not queues:
            return None
        if self._idle:
            return self._send_wait(queues)
        return self._send_fetch(queues)

    def _fetch_limit(self) -> int:
        room = self.qos.can_consume_max_estimate()
        return self.batch_fetch_size if room is None else min(room, self.batch_fetch_size)

    def _fetch_command(self, queues: list, limit: int, acks: list) -> tuple:
        prefix = self.global_keyprefix
        keys = [prefix + self._q_for_pri(queue, pri)
                for pri in self.priority_steps for queue in queues]
        return (_FETCH, FETCH_SHA, len(keys) + 2, *keys,
                prefix + self.unacked_key, prefix + self.unacked_index_key,
                limit, repr(time()), len(queues), *acks)

    def _send_fetch(self, queues: list, acks: list | None = None) -> None:
        qos = self.qos
        limit = self._fetch_limit()
        if limit <= 0:
            if acks:
                qos.give_back_acks(acks)
            return
        if acks is None:
            acks = qos.take_acks(MAX_ACKS_PER_FETCH)
        self._send((_FETCH,), queues, acks, limit, self._fetch_command(queues, limit, acks))

    def _send_wait(self, queues: list) -> None:
        """Wait for a message, and fetch as soon as the wait ends: one write, one wake-up.

        Redis runs the fetch right after the ``BLMOVE`` returns, on the same
        connection, so both replies arrive together.  Acks are not carried:
        the wait may last, and they go out with the next tick instead.
        """
        key = self.global_keyprefix + queues[0]
        if len(queues) * len(self.priority_steps) > 1:
            timeout = min(self.batch_fetch_idle_wait, self.brpop_timeout or 1)
        else:
            timeout = self.brpop_timeout or 1
        wait = (_WAIT, key, key, 'RIGHT', 'RIGHT', timeout)
        limit = self._fetch_limit()
        if limit <= 0:
            return self._send((_WAIT,), queues, (), 0, wait)
        return self._send((_WAIT, _FETCH), queues, (), limit, wait,
                          self._fetch_command(queues, limit, []))

    def _send(self, commands: tuple, queues: list, acks: Any, limit: int,
              *packed: tuple) -> None:
        connection = self.client.connection
        self._in_poll = connection
        self._in_flight = (commands, queues, acks, limit)
        self._brpop_sent_at = monotonic()
        try:
            connection.send_packed_command(connection.pack_commands(packed))
        except BaseException:
            self._in_poll = None
            self._in_flight = None
            if acks:
                self.qos.give_back_acks(list(acks))
            raise

    def _brpop_read(self, **options: Any) -> bool:
        if not self._batch_fetch or self._in_flight is None:
            return super()._brpop_read(**options)
        commands, queues, acks, limit = self._in_flight
        client = self.client
        reply = None
        try:
            try:
                for command in commands:  # the wait's reply first, then the fetch's
                    reply = client.parse_response(client.connection, command, **options)
            except self.connection_errors:
                client.connection.disconnect()
                if acks:
                    self.qos.give_back_acks(list(acks))
                raise
            except NoScriptError:
                reply = None  # the script did not run: load it, fetch again
            except self.ResponseError:
                if len(commands) > 1:  # a reply may be left unread: start afresh
                    client.connection.disconnect()
                if acks:
                    self.qos.give_back_acks(list(acks))
                raise
        finally:
            self._in_poll = None
            self._in_flight = None
            self._flush_brpop_reauth()
        command = commands[-1]
        if reply is None and command == _FETCH:
            client.script_load(FETCH_SCRIPT)
            self._send_next(self._send_fetch, list(acks))
            raise Empty()
        if command == _WAIT:  # waited with no room to fetch: fetch once there is
            self._idle = False
            if self.qos.can_consume():
                self._send_next(self._send_fetch)
            raise Empty()
        if not reply:
            self._idle = True
            self._send_next(self._send_wait)
            raise Empty()
        # fewer than asked for: the queues are empty now, so wait next time
        self._idle = len(reply) < 3 * limit
        if self._deliver_fetched(reply, queues):
            return True
        raise Empty()

    def _send_next(self, send: Any, *args: Any) -> None:
        """Send the next fetch or wait at once, for the queues consumed *now*.

        The queues of the reply just read may be gone (a consumer cancelled,
        another added: a control client's reply queue changes per request).
        """
        queues = None if self._closing else self._queue_cycle.consume(len(self.active_queues))
        if queues:
            send(queues, *args)
        elif args and args[0]:
            self.qos.give_back_acks(args[0])

    def _deliver_fetched(self, reply: list, queues: list) -> bool:
        """Deliver a fetch's messages as kombu's ``_brpop_read`` does each; True if any was."""
        width = len(queues)
        qos = self.qos
        connection = self.connection
        deliver, callbacks = connection._deliver, connection._callbacks
        rotate = self._queue_cycle.rotate
        error: BaseException | None = None
        delivered = False
        for n in range(0, len(reply), 3):
            queue = queues[(int(reply[n]) - 1) % width]
            tag = bytes_to_str(reply[n + 1])
            raw = reply[n + 2]
            if tag and (self._closing or queue not in callbacks):
                # nobody to take it (closing, or the consumer was cancelled): back it goes
                qos.restore_by_tag(tag, leftmost=True)
                continue
            try:
                payload = loads(bytes_to_str(raw))
            except (TypeError, ValueError):
                logger.error(W_UNDECODABLE, queue, raw[:1024])
                if tag:
                    qos._drop(tag)
                continue
            rotate(queue)
            qos._recorded = tag or None
            try:
                deliver(payload, queue)
                delivered = True
            except Exception as exc:
                if error is None:
                    error = exc
                else:
                    logger.exception('Error delivering message from queue %r', queue)
            finally:
                if tag and qos._recorded == tag:
                    # not appended: a no-ack consumer has it, or it failed on the way
                    qos._recorded = None
                    qos._drop(tag)
        if error is not None:
            raise error
        return delivered

    def _on_connection_disconnect(self, connection: Any) -> None:
        flight = self._in_flight
        if flight is not None and self._in_poll is connection:
            self._in_flight = None
            if flight[2] and self._qos is not None:
                self._qos.give_back_acks(list(flight[2]))
        self._idle = False
        super()._on_connection_disconnect(connection)

    # -- clients and closing -------------------------------------------------------------

    @contextmanager
    def conn_or_acquire(self, client: Any = None) -> Iterator[Any]:
        """kombu's, reusing one client object for the channel's synchronous commands."""
        if client:
            yield client
            return
        cached = self._sync_client
        if cached is None or self._pool is None or cached.connection_pool is not self._pool:
            cached = self._sync_client = self._create_client()
        yield cached

    def close(self) -> None:
        self._closing = True
        if self._in_poll and self._in_flight is not None:
            try:
                self._brpop_read()
            except Empty:
                pass
        qos = self._qos
        if qos is not None and not self.closed:
            try:
                qos.flush_acks()
            except Exception as exc:  # the broker is gone: they come back after the timeout
                logger.warning('Could not send %d acks before closing: %r',
                               len(qos._acks), exc)
        super().close()


class _Poller(kredis.MultiChannelPoller):
    """kombu's poller, sending each channel's collected acks once per tick."""

    #: Set when the transport runs in an event loop (the worker): acks wait for a tick.
    batch_acks = False

    def on_poll_start(self) -> None:
        super().on_poll_start()  # a fetch going out takes the acks with it
        for channel in self._channels:
            qos = channel._qos
            if qos is not None and getattr(qos, '_acks', None):
                qos.flush_acks()


class Transport(kredis.Transport):
    """kombu's Redis transport with :class:`Channel`."""

    Channel = Channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cycle = _Poller()
        self._server_ok: bool | None = None

    def register_with_event_loop(self, connection: Any, loop: Any) -> None:
        super().register_with_event_loop(connection, loop)
        self.cycle.batch_acks = True

    def can_batch_fetch(self, channel: Channel) -> bool:
        """True if the server has ``BLMOVE`` (asked once per transport; one warning per process)."""
        global _warned_old_server
        if self._server_ok is None:
            version = _server_version(channel.client)
            self._server_ok = version is not None and version >= MIN_SERVER
            if not self._server_ok and not _warned_old_server:
                _warned_old_server = True
                logger.warning(W_OLD_SERVER, '.'.join(map(str, version or ('?',))))
        return self._server_ok


class Connection(kombu.Connection):
    """A ``kombu.Connection`` resolving ``redis`` / ``rediss`` to :class:`Transport`.

    ``transport_cls`` keeps the name, so the URL, ``clone()`` and failover
    look as with kombu's own; ``batch_fetch=False`` in the transport
    options gives kombu's transport.
    """

    def get_transport_cls(self) -> type:
        name = self.transport_cls
        options = getattr(self, 'transport_options', None) or {}
        if isinstance(name, str) and name.lower() in REDIS_NAMES and \
                options.get(BATCH_FETCH_OPTION, True) is not False:
            return Transport
        return super().get_transport_cls()

    def Pool(self, limit: int | None = None, **kwargs: Any) -> Any:
        """kombu's connection pool, handing out connections of this class.

        kombu's pool builds plain ``PooledConnection`` objects, which would
        resolve ``redis`` to kombu's transport (and its new client per publish).
        """
        return _ConnectionPool(self, limit=limit, **kwargs)


class _PooledConnection(kombu.connection.PooledConnection, Connection):
    """A pooled connection resolving its transport as :class:`Connection` does."""


class _ConnectionPool(kombu.connection.ConnectionPool):
    def setup(self) -> None:
        self._resource = pool_queue(self._resource)  # cheaper when nobody waits
        super().setup()

    def new(self) -> _PooledConnection:
        return _PooledConnection(self, **dict(self.connection._info(resolve=False)))
