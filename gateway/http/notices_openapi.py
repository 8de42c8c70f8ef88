"""The notices' part of the one OpenAPI document (GET /api/openapi.json; casework_openapi.py
merges it): the paths of gateway/http/notices_api.py, their schemas and their error answers.

Built from the lists in force (`NoticeOptions.view()`), like the casework part, so every `enum`
is what the gateway accepts after a hot reload too. The limits are the domain's constants
(gateway/domain/notices.py): one place for each rule.
"""

from __future__ import annotations

from gateway.domain.casework import DSA_CATEGORIES
from gateway.domain.notice_options import MAX_NOTICE_LABEL_CHARS
from gateway.domain.notices import (
    APPEALS,
    DECISIONS,
    MAX_CHANNEL_CHARS,
    MAX_EVIDENCE_CHARS,
    MAX_EXPLANATION_CHARS,
    MAX_FACTS_DATES_CHARS,
    MAX_LOCATIONS,
    MAX_TICKET_CHARS,
    MAX_URL_CHARS,
    MIN_EXPLANATION_CHARS,
    STATES,
)

JSON = "application/json"
HTML = "text/html"
ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"  # the same ids as casework_openapi: no dots ("." and ".." are segments)
ERROR_REF = "#/components/schemas/Error"
EXPORT_FORMATS = ["json", "html"]


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": {"$ref": ERROR_REF}}}}


RESPONSES = {
    "NoticeRefused": _error_response("Signalement refusé : `error` dit pourquoi (en français), `field` nomme la "
                                     "clé (`body` quand le corps n'est pas du JSON, `state`/`platform`/`format` "
                                     "pour un paramètre de la requête)."),
    "NoticeConflict": _error_response("Changement refusé : une étape sautée ou un retour en arrière, un brouillon "
                                      "déjà envoyé, un recours hors délai, un contenu déjà effacé."),
    "NoticeNotFound": _error_response("Signalement ou conversation inconnu."),
}
CODES = {"NoticeRefused": "400", "Unauthorised": "401", "Forbidden": "403", "NoticeNotFound": "404",
         "NoticeConflict": "409", "TooLarge": "413", "UnsupportedMediaType": "415", "Unavailable": "503"}


def _responses(*names: str) -> dict:
    return {CODES[name]: {"$ref": f"#/components/responses/{name}"} for name in names}


def _ok(schema: str, description: str, status: str = "200") -> dict:
    return {status: {"description": description, "content": {JSON: {"schema": _ref(schema)}}}}


def _enum(values: list[str]) -> dict:
    return {"type": "string", "enum": values} if values else {"not": {}}


def _choices(view: dict, name: str) -> list[str]:
    return [option["value"] for option in view[name]]


def _text(limit: int, description: str, nullable: bool = True) -> dict:
    return {"type": ["string", "null"] if nullable else "string", "maxLength": limit, "description": description}


# --- schemas -----------------------------------------------------------------------------------
def _option_schema(with_provider: bool = False) -> dict:
    properties = {"value": {"type": "string", "pattern": "^[a-z0-9_-]{1,40}$"},
                  "label": {"type": "string", "minLength": 1, "maxLength": MAX_NOTICE_LABEL_CHARS}}
    if with_provider:
        properties["provider"] = {"type": "string", "description": "L'entité juridique nommée dans le rapport "
                                                                   "annuel (ex. Meta Platforms Ireland Ltd)."}
    return {"type": "object", "required": sorted(properties), "properties": properties,
            "additionalProperties": False}


def _options_schema() -> dict:
    lists = {"platforms": {"type": "array", "items": _ref("NoticePlatform")},
             **{name: {"type": "array", "items": _ref("NoticeOption")}
                for name in ("content_kinds", "offences", "decisions")}}
    return {"type": "object", "required": sorted(lists), "properties": lists, "additionalProperties": False}


def _fields(view: dict) -> dict:
    """The fields of a notice as the console sends them (POST, and PATCH of a draft)."""
    location = {"type": "string", "minLength": 1, "maxLength": MAX_URL_CHARS,
                "description": "Une adresse https://… ou un identifiant de la plateforme (@pseudo, n° de compte)."}
    return {
        "platform": {**_enum(_choices(view, "platforms")), "description": "La plateforme notifiée."},
        "content_kind": {**_enum(_choices(view, "content_kinds")), "description": "Type de contenu."},
        "locations": {"type": "array", "items": location, "minItems": 1, "maxItems": MAX_LOCATIONS,
                      "uniqueItems": True, "description": "Les emplacements exacts (art. 16(2)(b))."},
        "offence": {**_enum(_choices(view, "offences")), "description": "L'infraction (code pénal)."},
        "dsa_category": {"type": "string", "enum": sorted(DSA_CATEGORIES),
                         "description": "Catégorie DSA (absente : celle de la qualification de la conversation)."},
        "explanation": {"type": "string", "minLength": MIN_EXPLANATION_CHARS, "maxLength": MAX_EXPLANATION_CHARS,
                        "description": "Pourquoi le contenu est illicite (art. 16(2)(a))."},
        "facts_dates": _text(MAX_FACTS_DATES_CHARS, "Dates des faits (facultatif)."),
        "evidence": _text(MAX_EVIDENCE_CHARS, "Les preuves que garde le ou la jeune (jamais l'image elle-même)."),
        "consent": {"const": True, "description": "Le ou la jeune (ou son parent) a donné son accord."},
    }


def _input_schema(view: dict) -> dict:
    return {"type": "object", "additionalProperties": False, "properties": _fields(view),
            "required": ["platform", "content_kind", "locations", "offence", "explanation", "consent"]}


def _patch_schema(view: dict) -> dict:
    """A draft's field edits, or one move of its state, or the appeal (Art. 20)."""
    edit = {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": _fields(view),
            "description": "Modifier un brouillon (champs donnés seulement)."}
    sent = {"type": "object", "additionalProperties": False, "required": ["state"], "properties": {
        "state": {"const": "envoye"}, "channel": _text(MAX_CHANNEL_CHARS, "Canal utilisé (défaut : manuel)."),
        "ticket_id": _text(MAX_TICKET_CHARS, "Numéro de ticket de la plateforme.")}}
    acknowledged = {"type": "object", "additionalProperties": False, "required": ["state"],
                    "properties": {"state": {"const": "accuse_reception"}}}
    decided = {"type": "object", "additionalProperties": False, "required": ["state", "decision"], "properties": {
        "state": {"const": "decision"}, "decision": _enum(_choices(view, "decisions")),
        "decided_at": {"type": ["integer", "null"], "description": "Date de la décision (ms), défaut : maintenant."},
        "automated": {"type": ["boolean", "null"], "description": "Décision prise par des moyens automatisés "
                                                                  "(art. 16(6))."}}}
    appeal = {"type": "object", "additionalProperties": False, "required": ["appeal"],
              "properties": {"appeal": {"type": "string", "enum": list(APPEALS)}}}
    return {"anyOf": [edit, sent, acknowledged, decided, appeal]}


def _notice_schema() -> dict:
    """`Notice.view()` plus `overdue`: times in ms since the epoch, durations in hours."""
    text, text_or_null = {"type": "string"}, {"type": ["string", "null"]}
    ms_or_null, hours = {"type": ["integer", "null"]}, {"type": ["number", "null"], "minimum": 0}
    properties = {
        "id": text, "conversation_id": text, "counsellor_id": text, "platform": text, "content_kind": text,
        "locations": {"type": "array", "items": text}, "offence": text, "dsa_category": text,
        "explanation": text, "facts_dates": text_or_null, "evidence": text_or_null, "consent": {"type": "boolean"},
        "state": {"type": "string", "enum": list(STATES)}, "channel": text_or_null, "ticket_id": text_or_null,
        "decision": {"type": ["string", "null"], "enum": [*DECISIONS, None]}, "decided_at": ms_or_null,
        "automated": {"type": ["boolean", "null"]}, "appeal": {"type": ["string", "null"], "enum": [*APPEALS, None]},
        "created_at": {"type": "integer"}, "sent_at": ms_or_null, "acknowledged_at": ms_or_null,
        "appeal_at": ms_or_null, "erased_at": ms_or_null, "hours_to_ack": hours, "hours_to_removal": hours,
        "appeal_until": ms_or_null, "identity_exempt": {"type": "boolean"},
        "overdue": {"type": "boolean", "description": "Envoyé, sans décision après le délai de la plateforme."},
    }
    return {"type": "object", "required": sorted(properties), "properties": properties,
            "additionalProperties": False}


def _document_schema() -> dict:
    """gateway/domain/notices.notice_document: the Art. 16(2) export."""
    text, text_or_null = {"type": "string"}, {"type": ["string", "null"]}
    choice = {"type": "object", "required": ["value", "label"]}
    properties = {
        "reference": text, "regulation": text,
        "platform": {**choice, "required": ["value", "label", "provider"]}, "content_kind": choice,
        "explanation": text, "offence": choice, "dsa_category": text,
        "locations": {"type": "array", "items": text},
        "notifier": {"type": ["object", "null"], "required": ["name", "email"],
                     "description": "Art. 16(2)(c) ; null quand l'infraction en exempte (directive 2011/93/UE)."},
        "notifier_exemption": text_or_null, "good_faith": text,
        "facts_dates": text_or_null, "evidence": text_or_null, "created_at": text, "sent_at": text_or_null,
    }
    return {"type": "object", "required": sorted(properties), "properties": properties}


def notice_schemas(view: dict) -> dict:
    return {"NoticePlatform": _option_schema(with_provider=True), "NoticeOption": _option_schema(),
            "NoticeOptions": _options_schema(), "NoticeInput": _input_schema(view),
            "NoticePatch": _patch_schema(view), "Notice": _notice_schema(),
            "NoticeList": {"type": "object", "required": ["notices"], "additionalProperties": False,
                           "properties": {"notices": {"type": "array", "items": _ref("Notice")}}},
            "NoticeDocument": _document_schema()}


# --- paths -------------------------------------------------------------------------------------
def _id(description: str) -> dict:
    return {"name": "id", "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "pattern": ID_PATTERN}}


def _filter(name: str, values: list[str], description: str) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": _enum(values)}


def _body(schema: str) -> dict:
    return {"required": True, "content": {JSON: {"schema": _ref(schema)}}}


WRITE_ERRORS = ("NoticeRefused", "Unauthorised", "Forbidden", "NoticeNotFound", "TooLarge",
                "UnsupportedMediaType", "Unavailable")


def notice_paths(view: dict) -> dict:
    notice_id = _id("L'id du signalement.")
    export = {"200": {"description": "Le document de l'article 16(2) (json), ou sa page imprimable (html).",
                      "content": {JSON: {"schema": _ref("NoticeDocument")}, HTML: {"schema": {"type": "string"}}}}}
    return {
        "/api/notices/options": {"get": {
            "operationId": "noticeOptions", "summary": "Les listes du formulaire de signalement.",
            "responses": {**_ok("NoticeOptions", "Les listes en vigueur."), **_responses("Unauthorised", "Unavailable")}}},
        "/api/conversations/{id}/notices": {"parameters": [_id("L'id de la conversation.")], "post": {
            "operationId": "createNotice",
            "summary": "Préparer un signalement (brouillon) depuis une conversation : la vôtre, ou toutes pour "
                       "une supervision. Plusieurs par conversation.",
            "requestBody": _body("NoticeInput"),
            "responses": {**_ok("Notice", "Le brouillon enregistré.", "201"), **_responses(*WRITE_ERRORS)}}},
        "/api/notices": {"get": {
            "operationId": "listNotices",
            "summary": "Les signalements visibles (les vôtres ; une supervision : tous), du plus récent au plus ancien.",
            "parameters": [_filter("state", list(STATES), "Seulement cet état."),
                           _filter("platform", _choices(view, "platforms"), "Seulement cette plateforme.")],
            "responses": {**_ok("NoticeList", "Les signalements."),
                          **_responses("NoticeRefused", "Unauthorised", "Unavailable")}}},
        "/api/notices/{id}": {"parameters": [notice_id], "get": {
            "operationId": "getNotice", "summary": "Un signalement.",
            "responses": {**_ok("Notice", "Le signalement."),
                          **_responses("Unauthorised", "Forbidden", "NoticeNotFound", "Unavailable")}},
            "patch": {
                "operationId": "updateNotice",
                "summary": "Modifier un brouillon, ou avancer d'une étape (brouillon → envoye → accuse_reception → "
                           "decision), puis le recours (depose, puis accepte ou rejete).",
                "requestBody": _body("NoticePatch"),
                "responses": {**_ok("Notice", "Le signalement modifié."),
                              **_responses(*WRITE_ERRORS, "NoticeConflict")}}},
        "/api/notices/{id}/export": {"parameters": [notice_id], "get": {
            "operationId": "exportNotice", "summary": "L'export pour le canal prioritaire de la plateforme.",
            "parameters": [{"name": "format", "in": "query", "required": False, "description": "json (défaut) ou html.",
                            "schema": {"type": "string", "enum": EXPORT_FORMATS}}],
            "responses": {**export, **_responses("NoticeRefused", "Unauthorised", "Forbidden", "NoticeNotFound",
                                                 "NoticeConflict", "Unavailable")}}},
    }
