"""What a teen's live client (the web widget) can ask of the helpline: resume, write, type, end,
and the socket's comings and goings (a waiting teen who leaves for good abandons the queue).

The adapter moves frames; what the teen may see, how fast they may write and when a closed
tab counts as leaving are decided here. Internal notes never reach a teen: `shown_to_teen`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gateway.core import intake
from gateway.core import limits as shared_limits
from gateway.domain.errors import GatewayError, ProtocolError
from gateway.domain.model import (
    Author, Channel, CloseReason, Conversation, ConversationState, InboundMessage, Message,
)
from gateway.domain.rate_limit import MONOTONIC, KeyedBuckets
from gateway.domain.texts import queue_sentence

if TYPE_CHECKING:
    from gateway.core.helpline import Helpline

log = logging.getLogger(__name__)

# The adapter starts listening to a conversation's events, in the state it was read in.
Listen = Callable[[str, ConversationState], None]
SLOW_DOWN = ("Tu envoies beaucoup de messages d'un coup : attends quelques secondes, "
             "ton message n'est pas perdu.")


def shown_to_teen(message: Message) -> bool:
    """Counsellors' internal notes (Author.NOTE) never reach the teen: the one place it is decided."""
    return message.author is not Author.NOTE


@dataclass
class TeenLimits:
    """Per teen (sender key), this process: messages refused beyond the rate, typing dropped."""

    messages: KeyedBuckets
    typing: KeyedBuckets

    @classmethod
    def from_config(cls, config) -> "TeenLimits":
        per_minute = config.widget_messages_per_minute
        return cls(messages=KeyedBuckets(per_minute / 60, max(3, per_minute // 2)), typing=KeyedBuckets(2.0, 10))


@dataclass(frozen=True)
class TeenStatus:
    """Where the teen's conversation stands, as their client shows it."""

    conversation_id: str
    state: ConversationState
    counsellor_name: str | None = None
    position: int | None = None  # queued only
    wait: str | None = None  # the estimated wait as the teen reads it; queued only
    queue_text: str | None = None  # the band's sentence, place and wait (texts.queue_sentence); queued only


@dataclass(frozen=True)
class Resumed:
    status: TeenStatus | None  # None: no conversation in progress
    history: list[Message] = field(default_factory=list)  # what the client lacks, no notes
    through: int = 0  # the client now has every line up to this seq (notes counted as had)


@dataclass(frozen=True)
class Written:
    """A teen's message taken: stored (or a duplicate), with what the teen must now be shown."""

    duplicate: bool
    message: Message | None = None
    status: TeenStatus | None = None  # set when the message opened a conversation new to this client
    replies: list[Message] = field(default_factory=list)  # automatic replies stored with it


async def status_of(helpline: Helpline, conversation: Conversation) -> TeenStatus:
    counsellor_name = position = wait = queue_text = None
    if conversation.counsellor_id:
        profile = await helpline.store.get_counsellor(conversation.counsellor_id)
        counsellor_name = profile.display_name if profile else None
    if conversation.state is ConversationState.QUEUED:
        position = (await helpline.queue_positions()).get(conversation.id)
        if position is not None:
            wait = helpline.wait_estimate(position).text_fr()
            queue_text = queue_sentence(position, wait)
    return TeenStatus(conversation.id, conversation.state, counsellor_name, position, wait, queue_text)


async def _listen_then_read(helpline: Helpline, conversation: Conversation, listen: Listen) -> TeenStatus:
    """Listen to the conversation first, then read it: no change can fall in between."""
    listen(conversation.id, conversation.state)
    conversation = await helpline.store.get_conversation(conversation.id) or conversation
    return await status_of(helpline, conversation)


async def resume(helpline: Helpline, sender_key: str, after_seq: int, listen: Listen,
                 missing: Collection[int] = ()) -> Resumed:
    """A teen's hello: their conversation in progress, if any, and what they have not seen yet:
    every line after `after_seq`, and those below it the page says it lacks (`missing`; a
    note among them is simply not sent: the page cannot tell a note's hole from a lost line)."""
    conversation = await helpline.store.active_conversation_of(sender_key)
    if conversation is None:
        return Resumed(None)
    status = await _listen_then_read(helpline, conversation, listen)
    lacking = {s for s in missing if s <= after_seq}
    read_from = min(lacking, default=after_seq + 1) - 1
    lines = await helpline.store.messages(conversation.id, after_seq=read_from)
    if not lines and read_from > 0 and not await helpline.store.messages(conversation.id, after_seq=read_from - 1):
        # The page claims lines this conversation does not have (another conversation's): its
        # marks mean nothing here, so it is given everything and live lines are not skipped.
        lines, after_seq, lacking = await helpline.store.messages(conversation.id), 0, set()
    history = [m for m in lines if shown_to_teen(m) and (m.seq > after_seq or m.seq in lacking)]
    through = lines[-1].seq if lines else after_seq
    return Resumed(status, history, through)


async def write(helpline: Helpline, limits: TeenLimits, sender_key: str, client_id: str, text: object,
                bound_conversation_id: str | None, listen: Listen, address_key: str | None = None) -> Written:
    """A teen's message from the widget: rate-limited per teen, stored once (by client id).
    One that would open a new conversation also counts against its address key, shared by
    every process (core/limits.py): token rotation does not buy a new queue place."""
    if not limits.messages.take(sender_key, MONOTONIC.now()):
        helpline.security.record("rate_limited", "widget_socket", address_key=address_key, limit="widget_messages")
        raise ProtocolError("slow_down", SLOW_DOWN)
    # A socket bound to a conversation writes into it (or, once it closed, into one new one:
    # no flood with one token), so only an unbound socket pays the read that finds out.
    if (address_key is not None and bound_conversation_id is None
            and await helpline.store.active_conversation_of(sender_key) is None):
        await shared_limits.open_conversation(helpline, address_key)
    inbound = InboundMessage(Channel.WEB, sender_key, client_id, text, helpline.clock.now())
    # A bound socket's conversation is most likely still open: the line goes straight into it.
    result = await intake.receive(helpline, inbound, expect_open=bound_conversation_id is not None)
    if result.duplicate:
        return Written(duplicate=True)
    conversation = result.conversation
    if conversation.id == bound_conversation_id:
        # The socket listened before the line was stored: whatever followed it (automatic
        # replies, a counsellor's line) comes through the bus and the socket's gate. No read.
        return Written(False, result.message)
    status = await _listen_then_read(helpline, conversation, listen)
    # Automatic replies stored during receive() may have been published before the client listened.
    later = await helpline.store.messages(conversation.id, after_seq=result.message.seq)
    replies = [m for m in later if m.author is not Author.TEEN and shown_to_teen(m)]
    return Written(False, result.message, status, replies)


async def _own_open_conversation(helpline: Helpline, sender_key: str,
                                 conversation_id: str | None) -> Conversation | None:
    if conversation_id is None:
        return None
    conversation = await helpline.store.get_conversation(conversation_id)
    if conversation is None or conversation.sender_key != sender_key or not conversation.is_open:
        return None
    return conversation


async def typing(helpline: Helpline, limits: TeenLimits, sender_key: str, conversation_id: str | None,
                 active: bool) -> None:
    """Shown to the counsellor only once somebody has the conversation; a flood is dropped."""
    if not limits.typing.take(sender_key, MONOTONIC.now()):
        return
    conversation = await _own_open_conversation(helpline, sender_key, conversation_id)
    if conversation is not None and conversation.state is ConversationState.ASSIGNED:
        await helpline.teen_typing(conversation, active)


async def end(helpline: Helpline, sender_key: str, conversation_id: str | None) -> None:
    """The teen ends their conversation (waiting or in progress)."""
    conversation = await _own_open_conversation(helpline, sender_key, conversation_id)
    if conversation is not None:
        await helpline.close(conversation.id, CloseReason.BY_TEEN)


class LeaveTimers:
    """A widget teen whose last socket (in this process) closed is marked away in the store at
    once (positions and the dispatcher skip them, their counsellor's console sees it) and has
    `widget_leave_seconds` to come back (a reload does, within seconds). If not: waiting, they
    left the queue (abandoned); in a conversation, the console is told they left.

    The marks live in the store because the teen may come back through another process: a
    hello there clears them, and the timer's end here checks them. The store steps of one
    conversation run one after the other (away, back, the grace's end), so a quick reload
    never leaves a stale mark. Timers sleep on the helpline's clock: tests move time."""

    STOP_WAIT_SECONDS = 1.0  # at shutdown, for marks being written (then they are dropped)

    def __init__(self, helpline: Helpline):
        self.helpline = helpline
        self._timers: dict[str, asyncio.Task] = {}
        self._steps: dict[str, asyncio.Task] = {}  # the latest store step of each conversation

    @property
    def pending(self) -> int:
        return len(self._timers)

    def gone(self, conversation_id: str, state: ConversationState | None) -> None:
        """The last socket of this conversation closed; `state` is the last one its client showed."""
        if state not in (ConversationState.QUEUED, ConversationState.ASSIGNED) or conversation_id in self._timers:
            return
        left_at = self.helpline.clock.now()
        self._step(conversation_id, lambda: self.helpline.teen_away(conversation_id, left_at))
        task = asyncio.get_running_loop().create_task(self._after_grace(conversation_id, left_at))
        self._timers[conversation_id] = task

    def back(self, conversation_id: str) -> None:
        """A socket of this conversation opened here: no more timer, and the marks go (whichever
        process wrote them: the step reads the store first, and writes only if marked)."""
        task = self._timers.pop(conversation_id, None)
        if task is not None:
            task.cancel()
        self._step(conversation_id, lambda: self.helpline.teen_back(conversation_id))

    async def settled(self, conversation_id: str) -> None:
        """Return once the store steps of this conversation asked so far are done (tests)."""
        while (step := self._steps.get(conversation_id)) is not None:
            await asyncio.wait({step})

    def _step(self, conversation_id: str, action: Callable[[], Awaitable[object]]) -> asyncio.Task:
        """Run `action` after this conversation's previous step (never both at once)."""
        previous = self._steps.get(conversation_id)

        async def run() -> None:
            if previous is not None:
                await asyncio.wait({previous})
            try:
                await action()
            except GatewayError as exc:
                log.warning("could not record a teen leaving or coming back: %s", exc.code)

        task = asyncio.get_running_loop().create_task(run(), name="teen-presence")
        self._steps[conversation_id] = task
        task.add_done_callback(lambda done: self._steps.pop(conversation_id, None)
                               if self._steps.get(conversation_id) is done else None)
        return task

    async def _after_grace(self, conversation_id: str, left_at: float) -> None:
        clock = self.helpline.clock
        try:  # counted from `left_at`, not from when this task first runs
            await clock.sleep(left_at + self.helpline.config.widget_leave_seconds - clock.now())
        finally:
            if self._timers.get(conversation_id) is asyncio.current_task():
                del self._timers[conversation_id]
        step = self._step(conversation_id, lambda: self.helpline.teen_left(conversation_id, left_at))
        await asyncio.wait({step})

    async def close(self) -> None:
        timers = list(self._timers.values())
        self._timers.clear()
        for task in timers:
            task.cancel()
        await asyncio.gather(*timers, return_exceptions=True)
        steps = list(self._steps.values())
        if steps:
            _, late = await asyncio.wait(steps, timeout=self.STOP_WAIT_SECONDS)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
