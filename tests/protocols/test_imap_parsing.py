"""The IMAP response syntax and modified UTF-7, without a server."""

from __future__ import annotations

import pytest

from mailplane.protocols.imap.mutf7 import MailboxNameError, decode_mailbox, encode_mailbox
from mailplane.protocols.imap.parsing import parse_response


@pytest.mark.parametrize(
    ("name", "wire"),
    [
        ("INBOX", "INBOX"),
        ("Entwürfe", "Entw&APw-rfe"),
        ("A & B", "A &- B"),
        ("日本語", "&ZeVnLIqe-"),
        ("Sent/Ünterordner 😀", "Sent/&ANw-nterordner &2D3eAA-"),
    ],
)
def test_mailbox_names_round_trip(name: str, wire: str) -> None:
    assert encode_mailbox(name) == wire
    assert decode_mailbox(wire) == name


def test_broken_modified_utf7_is_an_error() -> None:
    with pytest.raises(MailboxNameError):
        decode_mailbox("&ZeVnLIqe")


def test_fetch_with_literal_and_section_names() -> None:
    header = b"Subject: hi\r\n\r\n"
    raw = (
        b"* 12 FETCH (UID 34 FLAGS (\\Seen $Label1) RFC822.SIZE 2048 "
        b"BODY[HEADER.FIELDS (SUBJECT FROM)] {"
        + str(len(header)).encode()
        + b"}\r\n"
        + header
        + b' ENVELOPE ("date" "subj \\"q\\"" (("Al" NIL "al" "x.test")) NIL NIL NIL NIL NIL '
        b'NIL "<id@x>"))'
    )
    response = parse_response(raw)
    assert (response.tag, response.name, response.number) == ("*", "FETCH", 12)
    values = response.data[0]
    assert values[:4] == ["UID", "34", "FLAGS", ["\\Seen", "$Label1"]]
    assert values[6] == "BODY[HEADER.FIELDS (SUBJECT FROM)]"
    assert values[7] == header
    envelope = values[9]
    assert envelope[1] == 'subj "q"'
    assert envelope[2] == [["Al", None, "al", "x.test"]]
    assert envelope[9] == "<id@x>"


def test_status_responses_keep_their_codes() -> None:
    response = parse_response(b"m3 OK [APPENDUID 1700 42] Append completed.")
    assert (response.tag, response.name, response.code_name) == ("m3", "OK", "APPENDUID")
    assert response.code == "APPENDUID 1700 42"
    assert response.text == "Append completed."
    no = parse_response(b"m4 NO [NONEXISTENT] Mailbox doesn't exist: X")
    assert no.code_name == "NONEXISTENT"


def test_a_search_of_fifty_thousand_uids_is_one_response() -> None:
    uids = " ".join(str(n) for n in range(1, 50_001)).encode()
    response = parse_response(b"* SEARCH " + uids)
    assert len(response.data) == 50_000
    assert response.data[-1] == "50000"


def test_thread_and_partial_fetch() -> None:
    thread = parse_response(b"* THREAD (1)(2 3 (4)(5 6))")
    assert thread.data == [["1"], ["2", "3", ["4"], ["5", "6"]]]
    partial = parse_response(b"* 1 FETCH (BODY[]<0> {3}\r\nabc UID 9)")
    assert partial.data[0] == ["BODY[]<0>", b"abc", "UID", "9"]
