"""The automatic messages sent to teens: their built-in texts, the {placeholders} each may use,
and the one rule a template must follow to be accepted (config.yaml's `messages`).

A template is filled with `str.format`, so anything but a plain `{name}` field is refused: a
format spec or conversion (`{position:>5000000}`) would let one line of config turn every
queued teen's message into megabytes, split into hundreds of WhatsApp messages.
"""

from __future__ import annotations

import string

# The numbers a teen can call at any hour, said alike in every closed-line text: 17/112 for
# danger now, 3114 (national suicide-prevention line, free, 24/7), 119 for a child in danger.
_EMERGENCY_NUMBERS = (
    "Si tu es en danger maintenant, appelle le 17 ou le 112. "
    "Si tu penses au suicide, appelle le 3114 (gratuit, 24h/24). "
    "Si un enfant ou un ado est en danger, appelle le 119 (gratuit, 24h/24)."
)

DEFAULT_MESSAGES: dict[str, str] = {
    "out_of_hours": (
        "Merci pour ton message. Le tchat du 3018 est fermé pour l'instant : "
        "on rouvre {next_opening}. Tu pourras nous écrire à ce moment-là, on sera là pour toi.\n"
        + _EMERGENCY_NUMBERS
    ),
    "queued": (
        "Merci de nous avoir écrit. Ce tchat est anonyme et gratuit. "
        "Tu es {position} dans la file. {wait} Reste là, tu n'es pas seul·e."
    ),
    "position_update": "Tu es maintenant {position} dans la file. {wait} Reste là, on arrive.",
    # Triage found danger: replaces "queued" for a new conversation, sent once per conversation.
    "danger_reply": (
        "On a bien lu ton message, et on le prend très au sérieux. Tu passes en priorité dans la file : "
        "un·e écoutant·e va te répondre dès que possible, reste avec nous. "
        "Si tu as envie d'en finir ou que tu es en danger maintenant, appelle le 3114 (gratuit, 24h/24) "
        "ou le 112."
    ),
    # The same danger out of hours: the line is closed, 3114 is not.
    "danger_closed": (
        "On a bien lu ton message, et on le prend très au sérieux. Le tchat du 3018 est fermé pour "
        "l'instant (on rouvre {next_opening}), mais tu n'as pas à rester seul·e : si tu as envie d'en finir "
        "ou que tu es en danger, appelle maintenant le 3114 (gratuit, 24h/24) ou le 112. "
        "Si un enfant ou un ado est en danger, appelle le 119 (gratuit, 24h/24)."
    ),
    "line_closing": (
        "Le tchat du 3018 ferme maintenant et aucun·e écoutant·e n'a pu te répondre à temps, "
        "on en est désolé·es. On rouvre {next_opening} : réécris-nous, on sera là.\n"
        + _EMERGENCY_NUMBERS
    ),
    "abandoned": (
        "On n'a plus de nouvelles de toi depuis un moment, alors on a fermé cette demande. "
        "Tu peux nous réécrire quand tu veux, on sera là."
    ),
    "transferred": (
        "Un·e autre écoutant·e va prendre le relais pour mieux t'aider. "
        "Tu n'as rien à répéter : reste là."
    ),
    "requeued": (
        "Ton écoutant·e a dû s'absenter. Quelqu'un d'autre va te répondre très vite : "
        "tu passes en premier. Reste là."
    ),
    "inactivity_check": "Tu es toujours là ? Tu peux continuer à écrire quand tu veux, on t'écoute.",
    "abuse_closed": (
        "Cette conversation est terminée : les messages reçus ne respectent pas ce tchat, "
        "qui est là pour aider les jeunes en difficulté."
    ),
    "abuse_reply": (
        "Ce tchat ne peut pas te répondre pour le moment. "
        "Si tu es en danger, appelle le 17 ou le 112, ou le 119 (gratuit, 24h/24). "
        "Le 3114 si tu penses au suicide, 24h/24."
    ),
    "inactivity_closed": (
        "Comme on n'a plus de nouvelles, on termine la conversation. "
        "Tu peux nous réécrire quand tu veux, ou appeler le 3018."
    ),
    "assigned": "{counsellor} est là pour t'écouter. Tu peux tout lui raconter, sans crainte d'être jugé·e.",
    "closed_by_counsellor": (
        "La conversation est terminée. Merci de ta confiance. "
        "Tu peux nous réécrire quand tu veux, ou appeler le 3018."
    ),
    "closed_by_teen": "Tu as terminé la conversation. Tu peux nous réécrire quand tu veux.",
    "attachment_refused": (
        "On a bien vu que tu as envoyé un fichier, mais on ne l'ouvre pas et on ne le garde pas : "
        "c'est pour te protéger. N'envoie jamais de photo intime, même à nous. "
        "Décris-nous avec des mots ce qui se passe, on va t'aider à le signaler."
    ),
}

# Which {placeholders} each automatic message may use.
MESSAGE_FIELDS: dict[str, frozenset[str]] = {
    "out_of_hours": frozenset({"next_opening"}),
    "queued": frozenset({"position", "wait"}),
    "position_update": frozenset({"position", "wait"}),
    # No {position}/{wait}: it answers danger, not the queue (the widget's band shows the place).
    "danger_reply": frozenset(),
    "danger_closed": frozenset({"next_opening"}),
    "line_closing": frozenset({"next_opening"}),
    "abandoned": frozenset(),
    "transferred": frozenset(),
    "requeued": frozenset(),
    "inactivity_check": frozenset(),
    "abuse_closed": frozenset(),
    "abuse_reply": frozenset(),
    "inactivity_closed": frozenset(),
    "assigned": frozenset({"counsellor"}),
    "closed_by_counsellor": frozenset(),
    "closed_by_teen": frozenset(),
    "attachment_refused": frozenset(),
}

# A template longer than this is not a message a teen reads (and Meta splits it in parts).
MAX_TEMPLATE_CHARS = 2000


def check_template(name: str, text: str) -> str:
    """`text` if it is a usable template for message `name`; ValueError saying why not."""
    return check_placeholders(text, MESSAGE_FIELDS[name])


def check_placeholders(text: str, allowed: frozenset[str]) -> str:
    """`text` if its only fields are plain `{name}` among `allowed` (also casework's ready texts)."""
    if not text.strip():
        raise ValueError("must be a non-empty text")
    if len(text) > MAX_TEMPLATE_CHARS:
        raise ValueError(f"must be at most {MAX_TEMPLATE_CHARS} characters, got {len(text)}")
    shown = ", ".join("{" + field + "}" for field in sorted(allowed)) or "none"
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"bad braces: {exc} (write {{{{ and }}}} for literal braces)") from None
    for _, field, spec, conversion in parts:
        if field is None:
            continue
        if field not in allowed:
            raise ValueError(f"unknown placeholder {{{field}}}; allowed: {shown}")
        if spec or conversion:
            raise ValueError(f"placeholder {{{field}}} has a format or conversion; write it as plain {{{field}}}")
    return text
