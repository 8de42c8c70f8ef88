"""Connectors: translate a channel's protocol to and from the core's model. No rules here."""
