"""What Meta's Graph API accepts from the gateway, as pure checks (the stand-in answers Meta's
error for a body any of them refuses). Shapes from Meta's Send API and Cloud API references
(/work/shared/META.md): text messages, sender actions, quick replies, reply buttons, read receipts."""

from __future__ import annotations

from typing import Any

MESSAGING_TYPES = frozenset({"RESPONSE", "UPDATE", "MESSAGE_TAG"})
MESSAGE_TAGS = frozenset({"HUMAN_AGENT", "ACCOUNT_UPDATE", "CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE",
                          "CUSTOMER_FEEDBACK"})
SENDER_ACTIONS = frozenset({"typing_on", "typing_off", "mark_seen"})


def messenger_problem(body: Any) -> str | None:
    """Why Meta would refuse this Send API body (None: it is valid)."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    recipient = body.get("recipient")
    if not isinstance(recipient, dict) or not isinstance(recipient.get("id"), str) or not recipient["id"]:
        return "recipient.id missing"
    if "sender_action" in body:
        if "message" in body:
            return "cannot send both message and sender_action"
        return None if body["sender_action"] in SENDER_ACTIONS else "unknown sender_action"
    messaging_type = body.get("messaging_type")
    if messaging_type not in MESSAGING_TYPES:
        return "messaging_type must be RESPONSE, UPDATE or MESSAGE_TAG"
    if messaging_type == "MESSAGE_TAG" and body.get("tag") not in MESSAGE_TAGS:
        return "MESSAGE_TAG needs a valid tag"
    if messaging_type != "MESSAGE_TAG" and "tag" in body:
        return "tag without MESSAGE_TAG"
    message = body.get("message")
    if not isinstance(message, dict) or not isinstance(message.get("text"), str):
        return "message.text missing"
    if not 0 < len(message["text"]) < 2000:
        return "message.text must be 1 to 1999 characters"
    return quick_replies_problem(message.get("quick_replies"))


def quick_replies_problem(replies: Any) -> str | None:
    """Send API "Quick Replies": up to 13 `{content_type: text, title ≤ 20, payload ≤ 1000}`."""
    if replies is None:
        return None
    if not isinstance(replies, list) or not 0 < len(replies) <= 13:
        return "quick_replies must be a list of 1 to 13"
    for reply in replies:
        if not isinstance(reply, dict) or reply.get("content_type") != "text":
            return "quick_replies[].content_type must be text"
        if not isinstance(reply.get("title"), str) or not 0 < len(reply["title"]) <= 20:
            return "quick_replies[].title must be 1 to 20 characters"
        if not isinstance(reply.get("payload"), str) or not 0 < len(reply["payload"]) <= 1000:
            return "quick_replies[].payload must be 1 to 1000 characters"
    return None


def buttons_problem(interactive: Any) -> str | None:
    """Cloud API interactive reply buttons: `{type: button, body.text ≤ 1024, action.buttons: 1–3
    {type: reply, reply: {id ≤ 256, title ≤ 20}}}`; ids and titles unique."""
    if not isinstance(interactive, dict) or interactive.get("type") != "button":
        return "only interactive reply buttons are supported by the stand-in"
    text = interactive.get("body", {}).get("text") if isinstance(interactive.get("body"), dict) else None
    if not isinstance(text, str) or not 0 < len(text) <= 1024:
        return "interactive.body.text must be 1 to 1024 characters"
    buttons = interactive.get("action", {}).get("buttons") if isinstance(interactive.get("action"), dict) else None
    if not isinstance(buttons, list) or not 0 < len(buttons) <= 3:
        return "interactive.action.buttons must be a list of 1 to 3"
    replies = [b.get("reply") if isinstance(b, dict) and b.get("type") == "reply" else None for b in buttons]
    if not all(isinstance(r, dict) and isinstance(r.get("id"), str) and 0 < len(r["id"]) <= 256
               and isinstance(r.get("title"), str) and 0 < len(r["title"]) <= 20 for r in replies):
        return "each button is {type: reply, reply: {id: 1-256 chars, title: 1-20 chars}}"
    if len({r["id"] for r in replies}) != len(replies) or len({r["title"] for r in replies}) != len(replies):
        return "button ids and titles must be unique"
    return None


def whatsapp_problem(body: Any) -> str | None:
    """Why the Cloud API would refuse this body (None: valid). Text and read receipts only."""
    if not isinstance(body, dict):
        return "body is not a JSON object"
    if body.get("messaging_product") != "whatsapp":
        return "messaging_product must be whatsapp"
    if "status" in body:
        if body["status"] != "read" or not isinstance(body.get("message_id"), str) or not body["message_id"]:
            return "a status update must be {status: read, message_id}"
        return None
    if not isinstance(body.get("to"), str) or not body["to"]:
        return "to missing"
    if body.get("recipient_type", "individual") != "individual":
        return "only individual messages are supported by the stand-in"
    if body.get("type") == "interactive":
        return buttons_problem(body.get("interactive"))
    if body.get("type", "text") != "text":
        return "only text and interactive button messages are supported by the stand-in"
    text = body.get("text")
    if not isinstance(text, dict) or not isinstance(text.get("body"), str):
        return "text.body missing"
    if not 0 < len(text["body"]) <= 4096:
        return "text.body must be 1 to 4096 characters"
    if not isinstance(text.get("preview_url", False), bool):
        return "text.preview_url must be a boolean"
    return None
