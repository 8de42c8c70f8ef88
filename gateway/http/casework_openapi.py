"""The OpenAPI 3.1 document of the casework API (served at GET /api/openapi.json).

One source: this module builds the document from the configured lists (`CaseworkOptions.view()`),
so the `enum` of every qualification field is the list in force, also after a hot reload, and
a client (or schemathesis) learns the values from the document itself. The routes it describes
are in gateway/http/casework_api.py; the prose is docs/casework.md.
"""

from __future__ import annotations

from gateway.domain.casework import MAX_OPTIONS, MAX_SUMMARY_CHARS
from gateway.domain.model import Channel
from gateway.domain.notices import DEFAULT_NOTICES
from gateway.http import notices_openapi

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
SESSION_COOKIE = "gw_session"  # http/console.COOKIE (behind TLS: HOST_COOKIE, said in the description)
ID_PATTERN = "^[A-Za-z0-9_-]{1,64}$"  # conversation ids (uuid4 hex); no dots: "." and ".." are path segments
JSON = "application/json"
ERROR_REF = "#/components/schemas/Error"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error_response(description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": {"$ref": ERROR_REF}}}}


# Every error these routes answer: one shape, {"error", "field"?} ("code" only on a 503).
RESPONSES = {
    "BadRequest": _error_response("Qualification refusée : `error` dit pourquoi (en français), `field` nomme "
                                  "la clé (`body` quand le corps n'est pas du JSON)."),
    "Unauthorised": _error_response("Non connecté (pas de cookie de session, ou session expirée)."),
    "Forbidden": _error_response("La conversation n'est pas la vôtre, ou la requête ne vient pas de la console "
                                 "(Origin/Referer, Sec-Fetch-Site)."),
    "NotFound": _error_response("Conversation inconnue, ou pas encore qualifiée (GET)."),
    "TooLarge": _error_response("Corps trop volumineux."),
    "UnsupportedMediaType": _error_response("Le corps doit être envoyé en `application/json`."),
    "Unavailable": {**_error_response("Le stockage est momentanément indisponible ; réessayer après "
                                      "`Retry-After` secondes."),
                    "headers": {"Retry-After": {"schema": {"type": "integer", "minimum": 1}}}},
}


def _enum(values: list[str]) -> dict:
    # An empty list (gender, platforms may be configured empty) admits no value at all.
    return {"type": "string", "enum": values} if values else {"not": {}}


def _choices(view: dict, name: str) -> list[str]:
    return [option["value"] for option in view[name]]


def _option_schema(with_frameworks: bool = False) -> dict:
    properties = {"value": {"type": "string", "pattern": "^[a-z0-9_]{1,40}$"},
                  "label": {"type": "string", "minLength": 1, "maxLength": 80}}
    if with_frameworks:
        properties |= {"chi": {"type": "string", "maxLength": 80,
                               "description": "Catégorie du cadre de données de Child Helpline International."},
                       "dsa": {"type": "string", "pattern": "^STATEMENT_CATEGORY_[A-Z_]+$",
                               "description": "Catégorie de la base de transparence du DSA."}}
    return {"type": "object", "required": sorted(properties), "properties": properties,
            "additionalProperties": False}


def _options_schema() -> dict:
    lists = {name: {"type": "array", "maxItems": MAX_OPTIONS, "items": _ref("Option")}
             for name in ("caller", "age_band", "gender", "platforms", "outcomes")}
    lists["categories"] = {"type": "array", "maxItems": MAX_OPTIONS, "items": _ref("Category")}
    return {"type": "object", "required": sorted(lists), "properties": lists, "additionalProperties": False}


def _many(values: list[str], at_least: int, description: str) -> dict:
    return {"type": "array", "items": _enum(values), "minItems": at_least, "maxItems": MAX_OPTIONS,
            "uniqueItems": True, "description": description}


def _input_schema(view: dict) -> dict:
    """The POST body, as gateway/domain/casework.parse_qualification accepts it."""
    return {
        "type": "object",
        "required": ["caller", "age_band", "categories", "outcomes"],
        "additionalProperties": False,
        "properties": {
            "caller": {**_enum(_choices(view, "caller")), "description": "Qui contacte."},
            "age_band": {**_enum(_choices(view, "age_band")), "description": "Tranche d'âge."},
            "gender": {"anyOf": [_enum(_choices(view, "gender")), {"type": "null"}],
                       "description": "Genre tel que dit (facultatif)."},
            "categories": _many(_choices(view, "categories"), 1, "Problématiques (au moins une)."),
            "platforms": _many(_choices(view, "platforms"), 0, "Plateformes concernées (absent : aucune)."),
            "outcomes": _many(_choices(view, "outcomes"), 1, "Suites données (au moins une)."),
            "summary": {"type": ["string", "null"], "maxLength": MAX_SUMMARY_CHARS,
                        "description": "Résumé libre, jamais montré au jeune, effacé avec les textes."},
        },
    }


def _stored_schema() -> dict:
    """`Qualification.view()`: times in ms since the epoch, wait and duration in seconds."""
    text, many = {"type": "string"}, {"type": "array", "items": {"type": "string"}}
    ms, ms_or_null = {"type": "integer"}, {"type": ["integer", "null"]}
    seconds_or_null = {"type": ["number", "null"], "minimum": 0}
    properties = {
        "conversation_id": text, "caller": text, "age_band": text, "gender": {"type": ["string", "null"]},
        "categories": many, "platforms": many, "outcomes": many,
        "summary": {"type": ["string", "null"], "maxLength": MAX_SUMMARY_CHARS},
        "counsellor_id": text, "qualified_at": ms,
        "channel": {"type": "string", "enum": [c.value for c in Channel]},
        "opened_at": ms, "assigned_at": ms_or_null, "closed_at": ms_or_null,
        "wait_seconds": seconds_or_null, "duration_seconds": seconds_or_null,
    }
    return {"type": "object", "required": sorted(properties), "properties": properties,
            "additionalProperties": False}


def _error_schema() -> dict:
    return {"type": "object", "required": ["error"], "additionalProperties": False, "properties": {
        "error": {"type": "string", "description": "Le message à montrer, en français."},
        "field": {"type": "string", "description": "La clé du corps en cause (400)."},
        "code": {"type": "string", "description": "`unavailable` (503 seulement)."},
    }}


def _responses(*names: str) -> dict:
    codes = {"BadRequest": "400", "Unauthorised": "401", "Forbidden": "403", "NotFound": "404",
             "TooLarge": "413", "UnsupportedMediaType": "415", "Unavailable": "503"}
    return {codes[name]: {"$ref": f"#/components/responses/{name}"} for name in names}


def _ok(schema: str, description: str) -> dict:
    return {"200": {"description": description, "content": {JSON: {"schema": _ref(schema)}}}}


def _paths() -> dict:
    conversation_id = {"name": "id", "in": "path", "required": True, "description": "L'id de la conversation.",
                       "schema": {"type": "string", "pattern": ID_PATTERN}}
    return {
        "/api/conversations/{id}/qualification": {
            "parameters": [conversation_id],
            "get": {"operationId": "getQualification", "summary": "La qualification enregistrée d'une conversation.",
                    "responses": {**_ok("Qualification", "La qualification."),
                                  **_responses("Unauthorised", "Forbidden", "NotFound", "Unavailable")}},
            "post": {"operationId": "qualifyConversation",
                     "summary": "Qualifier une conversation (la vôtre, en cours ou close ; une supervision : "
                                "toutes). Un nouvel envoi remplace le précédent.",
                     "requestBody": {"required": True,
                                     "content": {JSON: {"schema": _ref("QualificationInput")}}},
                     "responses": {**_ok("Qualification", "La qualification enregistrée."),
                                   **_responses("BadRequest", "Unauthorised", "Forbidden", "NotFound",
                                                "TooLarge", "UnsupportedMediaType", "Unavailable")}},
        },
        "/api/qualification/options": {
            "get": {"operationId": "qualificationOptions", "summary": "Les listes du formulaire (libellés en français).",
                    "responses": {**_ok("Options", "Les listes en vigueur."),
                                  **_responses("Unauthorised", "Unavailable")}},
        },
        **_report_paths(),
        "/api/openapi.json": {
            "get": {"operationId": "openapiDocument", "summary": "Ce document.", "security": [],
                    "responses": {"200": {"description": "Le document OpenAPI 3.1.",
                                          "content": {JSON: {"schema": {"type": "object"}}}}}},
        },
    }


def _report_paths() -> dict:
    """The reports (issue #13; gateway/http/reports_api.py): supervisors and admins only (403)."""
    def query(name: str, description: str, schema: dict, required: bool = True) -> dict:
        return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}

    day = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
    refused = _responses("BadRequest", "Unauthorised", "Forbidden", "Unavailable")
    return {
        "/api/reports/trusted-flagger": {"get": {
            "operationId": "trustedFlaggerReport",
            "summary": "Le rapport annuel de signaleur de confiance (DSA, art. 22(3)) : notifications envoyées "
                       "dans l'année, par plateforme, type de contenu illicite et suite donnée. Sans donnée "
                       "personnelle.",
            "parameters": [query("year", "L'année d'envoi des notifications (2000–2100).",
                                 {"type": "string", "pattern": r"^\d{4}$"}),
                           query("format", "json (défaut), csv ou html (page imprimable).",
                                 {"type": "string", "enum": ["json", "csv", "html"]}, required=False)],
            "responses": {"200": {"description": "Le rapport.", "content": {
                JSON: {"schema": _ref("TrustedFlaggerReport")}, "text/csv": {"schema": {"type": "string"}},
                "text/html": {"schema": {"type": "string"}}}}, **refused}}},
        "/api/reports/activity": {"get": {
            "operationId": "activityReport",
            "summary": "Les chiffres d'une période (jours inclus, fuseau de la ligne) : contacts, attentes, "
                       "abandons, qualifications, notifications. Agrégats anonymes.",
            "parameters": [query("from", "Premier jour, AAAA-MM-JJ.", day), query("to", "Dernier jour, AAAA-MM-JJ.", day),
                           query("format", "json (défaut) ou csv.", {"type": "string", "enum": ["json", "csv"]},
                                 required=False)],
            "responses": {"200": {"description": "Les chiffres.", "content": {
                JSON: {"schema": _ref("ActivityReport")}, "text/csv": {"schema": {"type": "string"}}}}, **refused}}},
    }


def _report_schemas() -> dict:
    count = {"type": "integer", "minimum": 0}
    share = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
    hours = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}}
    row = {"type": "object", "additionalProperties": False,
           "required": ["platform", "provider", "content_type", "action", "count"],
           "properties": {"platform": {"type": "string"}, "provider": {"type": "string"},
                          "content_type": {"type": "string", "description": "L'infraction (ex. 226-2-1)."},
                          "action": {"type": "string", "description": "La décision, ou `en_attente`."},
                          "count": count}}
    flagger = {"type": "object", "additionalProperties": False,
               "required": ["year", "rows", "median_hours_to_removal", "refused_share", "independence"],
               "properties": {"year": {"type": "integer"}, "rows": {"type": "array", "items": row},
                              "median_hours_to_removal": hours, "refused_share": share,
                              "independence": {"type": "string"}}}
    activity = {"type": "object", "description": "Voir docs/protocol.md, « Rapports ».",
                "required": ["from", "to", "timezone", "channels", "contacts", "per_day", "per_hour", "waits",
                             "abandons", "callers", "age_bands", "categories", "platforms", "outcomes", "notices"],
                "properties": {"from": {"type": "string"}, "to": {"type": "string"},
                               "per_day": {"type": "array", "items": {"type": "object"}},
                               "per_hour": {"type": "array", "maxItems": 24, "items": {"type": "object"}},
                               "contacts": {"type": "object"}, "waits": {"type": "object"},
                               "notices": {"type": "object"}}}
    return {"TrustedFlaggerReport": flagger, "ActivityReport": activity}


def openapi_document(options_view: dict, notices_view: dict | None = None) -> dict:
    """The document, for the lists in `options_view` (`CaseworkOptions.view()`) and `notices_view`
    (`NoticeOptions.view()`, the built-in lists when not given)."""
    notices_view = DEFAULT_NOTICES.view() if notices_view is None else notices_view
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "3018 — API des dossiers de la console", "version": API_VERSION,
                 "description": "Qualification des contacts (issue #12) ; signalements aux plateformes "
                                "(signaleur de confiance, issue #13). Authentifiée par le cookie de session "
                                "de la console ; chaque POST ou PATCH doit venir de la console (en-tête Origin, ou Referer, "
                                "de la passerelle ou de `console_origins` ; Sec-Fetch-Site same-origin). "
                                "Toute erreur a la forme {\"error\": str, \"field\"?: str}."},
        "security": [{"session": []}],
        "paths": {**_paths(), **notices_openapi.notice_paths(notices_view)},
        "components": {
            "securitySchemes": {"session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE,
                                            "description": "Posé par POST /api/console/login (HttpOnly, "
                                                           "SameSite=Strict) ; nommé __Host-gw_session quand "
                                                           "http.tls est activé."}},
            "responses": {**RESPONSES, **notices_openapi.RESPONSES},
            "schemas": {
                **notices_openapi.notice_schemas(notices_view),
                "Option": _option_schema(), "Category": _option_schema(with_frameworks=True),
                "Options": _options_schema(), "QualificationInput": _input_schema(options_view),
                "Qualification": _stored_schema(), "Error": _error_schema(), **_report_schemas(),
            },
        },
    }
