"""Reference links between plugin instances, through the backend (no sidechain routing).

An instance whose ``role`` is Reference publishes data (e.g. its long-term spectrum) under
its ``link_group`` (1..16, 0 = off); Target instances in the same group read the latest
publication. One board per backend process; the backend routes every session of a
link-using engine (spec ``"links": true``) to the same process, so they share one board.
Publications expire when their publisher stops publishing (its instance was removed or
bypassed), so a Target never follows a Reference that is gone.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

GROUPS = 16


@dataclass(frozen=True)
class Publication:
    publisher: bytes  # the publishing instance's identity
    data: Any
    time: float  # time.monotonic() of the publication
    serial: int  # increases with every publication in the group


class LinkBoard:
    def __init__(self, expiry_s: float = 2.0):
        self.expiry_s = expiry_s
        self._boards: dict[tuple[str, int], Publication] = {}
        self._serial = 0

    @staticmethod
    def _check(group: int) -> int:
        group = int(group)
        if not 1 <= group <= GROUPS:
            raise ValueError(f"link group {group} outside 1..{GROUPS}")
        return group

    def publish(self, channel: str, group: int, publisher: bytes, data: Any) -> None:
        """Publish ``data`` on ``channel`` (e.g. "spectrum") of ``group``; the newest wins."""
        self._serial += 1
        self._boards[(channel, self._check(group))] = Publication(publisher, data, time.monotonic(), self._serial)

    def read(self, channel: str, group: int, reader: bytes | None = None) -> Publication | None:
        """The group's latest live publication on ``channel`` (never the reader's own)."""
        pub = self._boards.get((channel, self._check(group)))
        if pub is None or time.monotonic() - pub.time > self.expiry_s or pub.publisher == reader:
            return None
        return pub

    def withdraw(self, publisher: bytes) -> None:
        """Forget everything ``publisher`` published (its session was closed)."""
        for key in [k for k, p in self._boards.items() if p.publisher == publisher]:
            del self._boards[key]
