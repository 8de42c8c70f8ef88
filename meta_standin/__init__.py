"""A stand-in for Meta (Graph API + webhooks) on loopback, for tests and demos.

`StandIn` plays Meta in-process; `python -m meta_standin` serves it for a demo and
`python -m meta_standin chat …` lets a person play the teen from a terminal.
"""

from .server import ERRORS, SentRequest, StandIn, meta_json, signature_256

__all__ = ["ERRORS", "SentRequest", "StandIn", "meta_json", "signature_256"]
