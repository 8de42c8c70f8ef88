"""The one exception root of the gateway.

GatewayError
├── ConfigError          a config file or value is invalid (carries the key)
├── StoreError           the store cannot be reached or answered nonsense
├── InvalidTransition    a conversation was asked for a move its state forbids
├── ProtocolError        a client frame or payload is malformed (carries a code)
├── AuthError            login or session refused
├── DeliveryError        a message could not be sent to a teen's platform (carries why)
└── Refused              a request refused as sent, with a French message (the JSON API)
    ├── FieldRefused     because of one input: carries the field (400)
    │   ├── QualificationRefused, NoticeRefused, ReportRefused (domain/reports.py)
    ├── NoticeConflict   a notice's move skips a state, goes back or is too late (409)
    ├── Forbidden        not yours to see or change (403)
    └── NotFound         no such thing (404)
"""

from __future__ import annotations


class GatewayError(Exception):
    """Root of every error the gateway raises on purpose."""

    code = "gateway_error"
    retryable = False
    http_status = 500


class ConfigError(GatewayError):
    code = "config_invalid"
    http_status = 400

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


class StoreError(GatewayError):
    code = "store_unavailable"
    retryable = True
    http_status = 503


class InvalidTransition(GatewayError):
    code = "invalid_transition"
    http_status = 409


class ProtocolError(GatewayError):
    http_status = 400

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class AuthError(GatewayError):
    code = "unauthorised"
    http_status = 401


class DeliveryError(GatewayError):
    """A send to Messenger/WhatsApp failed. Senders translate platform errors into this.

    `kind`: rate_limit, pair_rate, token, window_closed, unreachable, bad_request, server, network.
    `reason`: French, for the counsellor ("non délivré : …"). `alert`: an admin must act (token).
    """

    def __init__(self, kind: str, reason: str, *, retryable: bool, alert: bool = False):
        super().__init__(f"delivery failed: {kind}")
        self.code = kind
        self.kind = kind
        self.reason = reason
        self.retryable = retryable
        self.alert = alert


class Refused(GatewayError):
    """A request refused as sent, with a French `message` for the person (the JSON API's `error`)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class FieldRefused(Refused):
    """Refused because of one input: `field` names the key (the JSON API's `field`)."""

    http_status = 400

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class QualificationRefused(FieldRefused):
    """A qualification refused as sent (casework)."""

    code = "bad_qualification"


class NoticeRefused(FieldRefused):
    """A trusted-flagger notice refused as sent."""

    code = "bad_notice"


class NoticeConflict(Refused):
    """A notice's state move out of order (skipped, backward, after the appeal window)."""

    code = "conflict"
    http_status = 409


class Forbidden(Refused):
    code = "forbidden"
    http_status = 403


class NotFound(Refused):
    code = "not_found"
    http_status = 404
