"""Every log record of every logger, formatted in full, for the privacy canaries' scans.

`logs` (tests/conftest.py) installs one at DEBUG on the root logger for a test. Excluded from
`gateway_lines`: the `websockets` library's own DEBUG lines, which log every frame the *test
clients* send and receive (it plays the teen's browser; the gateway never imports it).
"""

from __future__ import annotations

import logging

NOT_THE_GATEWAY = ("websockets",)  # loggers of the test clients


class CapturedLogs(logging.Handler):
    """Every record, formatted in full: message, exception with traceback, stack, extras."""

    _STANDARD = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(pathname)s:%(lineno)d %(message)s"))
        self.lines: list[tuple[str, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)  # appends exc_info's traceback and stack_info
        except Exception as exc:  # noqa: BLE001 - an unformattable record is still searched
            text = f"(unformattable: {exc!r}) {record.msg!r}"
        extras = {k: v for k, v in vars(record).items() if k not in self._STANDARD}
        self.lines.append((record.name, f"{text} args={record.args!r} extras={extras!r}"))

    def gateway_lines(self) -> list[str]:
        return [text for name, text in self.lines if not name.startswith(NOT_THE_GATEWAY)]
