"""Reference links through the backend: publish/read per group and channel, expiry,
no self-reads, withdrawal when the publisher's session is collected."""

from __future__ import annotations

import time

import pytest
from bandmate.links import LinkBoard
from bandmate.sessions import Session, SessionTable


def test_targets_read_the_latest_publication_of_their_group():
    board = LinkBoard()
    board.publish("spectrum", 3, b"ref-a", [1.0])
    board.publish("spectrum", 3, b"ref-b", [2.0])
    board.publish("spectrum", 4, b"ref-c", [4.0])
    assert board.read("spectrum", 3, b"target").data == [2.0]
    assert board.read("spectrum", 4, b"target").data == [4.0]
    assert board.read("spectrum", 5, b"target") is None
    assert board.read("other", 3, b"target") is None
    assert board.read("spectrum", 3, b"ref-b") is None  # never your own publication
    first = board.read("spectrum", 3).serial
    board.publish("spectrum", 3, b"ref-b", [3.0])
    assert board.read("spectrum", 3).serial > first


def test_publications_expire_and_bad_groups_are_refused():
    board = LinkBoard(expiry_s=0.05)
    board.publish("spectrum", 1, b"ref", 1)
    assert board.read("spectrum", 1) is not None
    time.sleep(0.08)
    assert board.read("spectrum", 1) is None
    for bad in (0, 17, -1):
        with pytest.raises(ValueError, match="link group"):
            board.publish("spectrum", bad, b"ref", 1)


def test_collected_sessions_withdraw_their_publications():
    table = SessionTable(idle_timeout=0.01)
    table.sessions[b"ref"] = Session(key=("x",), engine=None, last_seen=time.monotonic() - 1)
    table.links.publish("spectrum", 2, b"ref", 1)
    assert table.collect_idle() == 1
    assert table.links.read("spectrum", 2) is None
