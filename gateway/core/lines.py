"""Our lines to a teen (system notices, counsellor replies) as the store takes them.

Whether a line of ours goes out on the teen's platform, and within which window, is decided
here, once, when it is stored: `Helpline.reply`, the notices and the outbox all go through
`ours`; the delivery worker only compares the stored window with the clock.
"""

from __future__ import annotations

from gateway.core.ports import NewMessage
from gateway.domain.errors import ProtocolError
from gateway.domain.model import Author, Conversation
from gateway.domain.windows import Window, send_window

WINDOW_CLOSED_REFUSAL = ("Fenêtre fermée : ce jeune ne peut plus recevoir de message libre. "
                         "Il doit réécrire en premier.")


def ours(conversation: Conversation, author: Author, text: str, at: float, name: str | None = None) -> NewMessage:
    """One of our messages. On Messenger/WhatsApp it is queued for sending as it is stored,
    with its window (the worker adds the HUMAN_AGENT tag once the plain window has passed).

    When the platform's window has closed, a counsellor's reply is refused (ProtocolError
    `window_closed`: they must know it cannot arrive); a system notice stays in the record only."""
    reach = send_window(conversation.channel, conversation.last_teen_message_at)
    if reach is not None and reach.at(at) is Window.CLOSED:
        if author is Author.COUNSELLOR:
            raise ProtocolError("window_closed", WINDOW_CLOSED_REFUSAL)
        reach = None
    return NewMessage(author, text, at, name, window=reach)
