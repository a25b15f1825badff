"""PostOffice's SMTP dialogue against the real binary, byte for byte:
replies, pipelining, DATA end detection, limits, and what is (or is not)
in the spool afterwards."""

import base64

import pytest

from conftest import spool_messages
from postoffice_util import (Client, HOST, envelope, greet, load, only_message,
                             queued_id, raw_data, send_message, start,
                             tmp_files)

MSG = b"From: a@b.example\r\nTo: c@d.example\r\nSubject: hello\r\n\r\nHi there.\r\n"


def test_accepted_message_is_one_spool_file_with_exact_bytes(daemons, spool):
    d, port = start(daemons, spool)
    qid = queued_id(send_message(port, MSG, rcpts=("c@d.example", "e@f.example")))
    name, obj = only_message(spool)
    assert name == qid
    assert obj["id"] == qid
    assert obj["mail_from"] == "a@b.example"
    assert obj["rcpt_tos"] == ["c@d.example", "e@f.example"]
    assert obj["subject"] == "hello"
    assert obj["body"] == "Hi there.\r\n"
    assert obj["data"].encode() == MSG
    assert obj["size"] == len(MSG)
    assert obj["client"] == "127.0.0.1"
    assert obj["attempts"] == 0
    assert obj["timestamp"].endswith("Z")
    assert tmp_files(spool) == []


def test_log_line_per_accepted_message(daemons, spool):
    d, port = start(daemons, spool)
    qid = queued_id(send_message(port, MSG, rcpts=("c@d.example", "e@f.example")))
    expected = ("postoffice[%d]: %s: from=<a@b.example>, to=<c@d.example>, "
                "to=<e@f.example>, nrcpt=2, size=%d, client=127.0.0.1"
                % (d.pid, qid, len(MSG)))
    assert expected in d.stderr().splitlines()


def test_binary_8bit_and_nul_round_trip_as_data_base64(daemons, spool):
    d, port = start(daemons, spool)
    data = (b"Subject: bin\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n"
            b"caf\xe9 \x00 \xff\xfe\r\n" + bytes(range(1, 256)).replace(b"\r", b"").replace(b"\n", b"") + b"\r\n")
    qid = queued_id(send_message(port, data))
    obj = load(spool, qid)
    assert "data_base64" in obj and "data" not in obj
    assert base64.b64decode(obj["data_base64"]) == data
    assert obj["body"].startswith("caf\u00e9 ")


def test_null_sender_is_accepted_and_stored_as_empty(daemons, spool):
    d, port = start(daemons, spool)
    queued_id(send_message(port, MSG, sender=""))
    assert only_message(spool)[1]["mail_from"] == ""


def test_dot_stuffed_lines_are_unstuffed(daemons, spool):
    d, port = start(daemons, spool)
    queued_id(send_message(port, b"Subject: dots\r\n\r\n..one\r\n...\r\n.x\r\n"))
    assert raw_data(only_message(spool)[1]) == b"Subject: dots\r\n\r\n.one\r\n..\r\nx\r\n"


def test_spool_file_appears_only_after_the_final_dot(daemons, spool):
    d, port = start(daemons, spool)
    with greet(port) as c:
        envelope(c)
        assert c.cmd("DATA").startswith("354")
        c.send(MSG)
        # A NOOP cannot be sent inside DATA; instead a second connection
        # proves the server has processed everything sent so far.
        with greet(port) as c2:
            assert c2.cmd("NOOP") == "250 2.0.0 Ok"
        assert spool_messages(spool) == []
        c.send(b".\r\n")
        qid = queued_id(c.reply())
        assert spool_messages(spool) == [qid]


def test_pipelined_session_in_one_packet_is_answered_in_order(daemons, spool):
    d, port = start(daemons, spool)
    c = Client(port)
    assert c.reply().startswith("220 ")
    c.send(b"EHLO x\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"
           b"Subject: one\r\n\r\n1\r\n.\r\nMAIL FROM:<e@b.example>\r\n"
           b"RCPT TO:<f@d.example>\r\nDATA\r\nSubject: two\r\n\r\n2\r\n.\r\nQUIT\r\n")
    assert c.reply().startswith("250-" + HOST)
    assert c.reply() == "250 2.1.0 Ok"
    assert c.reply() == "250 2.1.5 Ok"
    assert c.reply().startswith("354 ")
    first = queued_id(c.reply())
    assert c.reply() == "250 2.1.0 Ok"
    assert c.reply() == "250 2.1.5 Ok"
    assert c.reply().startswith("354 ")
    second = queued_id(c.reply())
    assert c.reply() == "221 2.0.0 Bye"
    assert c.closed()
    assert spool_messages(spool) == sorted([first, second])
    assert load(spool, first)["subject"] == "one"
    assert load(spool, second)["mail_from"] == "e@b.example"


def test_ehlo_advertises_esmtp_extensions(daemons, spool):
    d, port = start(daemons, spool, "--max-size", "5000000")
    with Client(port) as c:
        c.reply()
        assert c.cmd("EHLO x") == "\n".join([
            "250-" + HOST, "250-PIPELINING", "250-SIZE 5000000",
            "250-ENHANCEDSTATUSCODES", "250-8BITMIME", "250 SMTPUTF8"])
        assert c.cmd("HELO x") == "250 " + HOST


def test_unknown_bad_sequence_and_bad_syntax_replies(daemons, spool):
    d, port = start(daemons, spool)
    with Client(port) as c:
        c.reply()
        assert c.cmd("MAIL FROM:<a@b.example>") == "503 5.5.1 Error: send HELO/EHLO first"
        assert c.cmd("FOO") == "500 5.5.2 Error: command not recognized"
        assert c.cmd("HELO") == "501 5.5.4 Syntax: HELO hostname"
        assert c.cmd("HELO x") == "250 " + HOST
        assert c.cmd("RCPT TO:<c@d.example>") == "503 5.5.1 Error: need MAIL command"
        assert c.cmd("MAIL FROM:a@b.example") == "501 5.5.4 Syntax: MAIL FROM:<address>"
        assert c.cmd("MAIL FROM:<a b@b.example>") == "501 5.1.7 Bad sender address syntax"
        assert c.cmd("MAIL FROM:<a@b.example> XYZ=1") == "555 5.5.4 Unsupported option: XYZ=1"
        assert c.cmd("MAIL FROM:<a@b.example>") == "250 2.1.0 Ok"
        assert c.cmd("DATA") == "503 5.5.1 Error: need RCPT command"
        assert c.cmd("RCPT TO:<c@>") == "501 5.1.3 Bad recipient address syntax"
        assert c.cmd("VRFY root").startswith("252 2.0.0 ")
        assert c.cmd("HELP").startswith("214 2.0.0 ")
        assert c.cmd("NOOP") == "250 2.0.0 Ok"
        assert c.cmd("RSET") == "250 2.0.0 Ok"
        assert c.cmd("QUIT") == "221 2.0.0 Bye"
    assert spool_messages(spool) == []


def test_utf8_addresses_need_smtputf8(daemons, spool):
    d, port = start(daemons, spool)
    with greet(port) as c:
        assert c.cmd("MAIL FROM:<j\u00f6rg@b.example>".encode() + b"\r\n") == \
            "553 5.6.7 Must declare SMTPUTF8 to send unicode address"
        assert c.cmd("MAIL FROM:<j\u00f6rg@b.example> SMTPUTF8".encode() + b"\r\n") == "250 2.1.0 Ok"
        assert c.cmd("RCPT TO:<\u00e9l\u00e8ve@d.example>".encode() + b"\r\n") == "250 2.1.5 Ok"
        assert c.cmd("DATA").startswith("354")
        c.send(MSG + b".\r\n")
        qid = queued_id(c.reply())
    obj = load(spool, qid)
    assert obj["mail_from"] == "j\u00f6rg@b.example"
    assert obj["rcpt_tos"] == ["\u00e9l\u00e8ve@d.example"]


def test_size_over_limit_at_mail_gets_552(daemons, spool):
    d, port = start(daemons, spool, "--max-size", "1000")
    with greet(port) as c:
        assert c.cmd("MAIL FROM:<a@b.example> SIZE=1001") == \
            "552 5.3.4 Message size exceeds fixed limit"
        assert c.cmd("MAIL FROM:<a@b.example> SIZE=1000 BODY=8BITMIME") == "250 2.1.0 Ok"
    assert spool_messages(spool) == []


def test_message_over_limit_is_read_to_end_then_552_and_not_spooled(daemons, spool):
    d, port = start(daemons, spool, "--max-size", "1000")
    with greet(port) as c:
        envelope(c)
        assert c.cmd("DATA").startswith("354")
        c.send(b"Subject: big\r\n\r\n" + b"x" * 5000 + b"\r\n.\r\n")
        assert c.reply() == "552 5.3.4 Message size exceeds fixed limit"
        # The session goes on and a message within the limit is taken.
        envelope(c)
        assert c.cmd("DATA").startswith("354")
        c.send(MSG + b".\r\n")
        qid = queued_id(c.reply())
    assert spool_messages(spool) == [qid]
    assert tmp_files(spool) == []


def test_rcpt_over_limit_gets_452(daemons, spool):
    d, port = start(daemons, spool, "--max-rcpt", "2")
    with greet(port) as c:
        envelope(c, rcpts=("r1@d.example", "r2@d.example"))
        assert c.cmd("RCPT TO:<r3@d.example>") == "452 4.5.3 Error: too many recipients"
        assert c.cmd("DATA").startswith("354")
        c.send(MSG + b".\r\n")
        qid = queued_id(c.reply())
    assert load(spool, qid)["rcpt_tos"] == ["r1@d.example", "r2@d.example"]


def test_line_too_long_gets_500_and_session_goes_on(daemons, spool):
    d, port = start(daemons, spool)
    with greet(port) as c:
        assert c.cmd("NOOP " + "x" * 505) == "250 2.0.0 Ok"     # 512 with CRLF
        assert c.cmd("NOOP " + "x" * 506) == "500 5.5.2 Error: line too long"
        assert c.cmd("MAIL FROM:<" + "a" * 5000 + "@b.example>") == \
            "500 5.5.2 Error: line too long"
        assert c.cmd("NOOP") == "250 2.0.0 Ok"


def test_max_line_option_changes_the_limit(daemons, spool):
    d, port = start(daemons, spool, "--max-line", "1000")
    with greet(port) as c:
        assert c.cmd("NOOP " + "x" * 993) == "250 2.0.0 Ok"
        assert c.cmd("NOOP " + "x" * 994) == "500 5.5.2 Error: line too long"


SMUGGLING = [b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\n.\r",
             b"\r\n.\r"]


@pytest.mark.parametrize("seq", SMUGGLING, ids=[repr(s) for s in SMUGGLING])
def test_smuggling_sequence_gets_550_and_nothing_is_spooled(daemons, spool, seq):
    d, port = start(daemons, spool)
    with greet(port) as c:
        envelope(c)
        assert c.cmd("DATA").startswith("354")
        c.send(b"Subject: x\r\n\r\nlegit" + seq +
               b"MAIL FROM:<evil@x.example>\r\nRCPT TO:<victim@d.example>\r\n"
               b"DATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\nNOOP\r\n")
        r = c.reply()
        assert r in ("550 5.5.2 Error: bare <LF> received",
                     "550 5.5.2 Error: bare <CR> received"), r
        assert c.reply() == "250 2.0.0 Ok"
    assert spool_messages(spool) == []
    assert tmp_files(spool) == []


@pytest.mark.parametrize("seq", SMUGGLING, ids=[repr(s) for s in SMUGGLING])
def test_smuggling_sequence_under_normalize_is_one_message(daemons, spool, seq):
    d, port = start(daemons, spool, "--bare-newline", "normalize")
    with greet(port) as c:
        envelope(c)
        assert c.cmd("DATA").startswith("354")
        c.send(b"Subject: x\r\n\r\nlegit" + seq +
               b"MAIL FROM:<evil@x.example>\r\n.\r\nNOOP\r\n")
        queued_id(c.reply())
        assert c.reply() == "250 2.0.0 Ok"
    name, obj = only_message(spool)
    data = raw_data(obj)
    assert b"MAIL FROM:<evil@x.example>\r\n" in data
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_bare_lf_in_normalize_mode_is_stored_as_crlf(daemons, spool):
    d, port = start(daemons, spool, "--bare-newline", "normalize")
    queued_id(send_message(port, b"Subject: lf\nX: y\r\n\r\nline\nline2\r\n"))
    assert raw_data(only_message(spool)[1]) == b"Subject: lf\r\nX: y\r\n\r\nline\r\nline2\r\n"


BARE_LF_REPLY = "550 5.5.2 %s Error: bare <LF> received" % HOST


def test_command_line_ending_in_bare_lf_gets_550_and_is_not_run(daemons, spool):
    """Postfix's reply for smtpd_forbid_bare_newline = reject; the session
    goes on, and CRLF commands are served."""
    d, port = start(daemons, spool)
    with greet(port) as c:
        assert c.cmd(b"MAIL FROM:<a@b.example>\n") == BARE_LF_REPLY
        assert c.cmd(b"QUIT\n") == BARE_LF_REPLY
        assert not c.closed(timeout=0.3)
        envelope(c)
        assert c.cmd(b"RCPT TO:<e@d.example>\n") == BARE_LF_REPLY
        assert c.cmd("DATA").startswith("354 ")
        c.send(MSG + b".\r\n")
        qid = queued_id(c.reply())
        assert c.cmd("QUIT") == "221 2.0.0 Bye"
    assert load(spool, qid)["rcpt_tos"] == ["c@d.example"]
    assert "NOQUEUE: reject: %s, client=127.0.0.1" % BARE_LF_REPLY in d.stderr()


def test_command_lines_may_end_in_bare_lf_under_normalize(daemons, spool):
    d, port = start(daemons, spool, "--bare-newline", "normalize")
    with Client(port) as c:
        assert c.reply().startswith("220 ")
        assert c.cmd(b"EHLO client.test\n").startswith("250-%s" % HOST)
        assert c.cmd(b"MAIL FROM:<a@b.example>\n") == "250 2.1.0 Ok"
        assert c.cmd(b"RCPT TO:<c@d.example>\n") == "250 2.1.5 Ok"
        assert c.cmd(b"DATA\n").startswith("354 ")
        c.send(MSG + b".\r\n")
        queued_id(c.reply())
        assert c.cmd(b"QUIT\n") == "221 2.0.0 Bye"


def test_message_whose_spool_file_is_over_max_file_gets_552(daemons, spool):
    """Under --max-size, but its JSON is not: each control character is
    six octets there.  Nothing is spooled; the session goes on."""
    d, port = start(daemons, spool, "--max-size", "10k", "--max-file", "20k")
    data = b"Subject: ctl\r\n\r\n" + (b"\x01" * 998 + b"\r\n") * 8   # 8 KB
    with greet(port) as c:
        envelope(c)
        assert c.cmd("DATA").startswith("354 ")
        c.send(data + b".\r\n")
        assert c.reply() == "552 5.3.4 Error: message file too big"
        assert spool_messages(spool) == []
        assert tmp_files(spool) == []
        envelope(c)
        assert c.cmd("DATA").startswith("354 ")
        c.send(MSG + b".\r\n")
        qid = queued_id(c.reply())
    assert spool_messages(spool) == [qid]
    log = d.stderr()
    assert "NOQUEUE: reject: 552 5.3.4 Error: message file too big, client=127.0.0.1" in log
    assert ": refused: spool file over 20480 bytes, size=8016, client=127.0.0.1" in log


def test_trace_headers_are_removed_by_default(daemons, spool):
    d, port = start(daemons, spool)
    data = (b"Received: from web1.internal (10.1.2.3)\r\n\tby backend; Tue, 1 Jan 2030\r\n"
            b"X-Originating-IP: [10.9.9.9]\r\nSubject: s\r\n"
            b"X-PHP-Originating-Script: 33:send.php\r\n\r\nReceived: body line\r\n")
    queued_id(send_message(port, data))
    assert raw_data(only_message(spool)[1]) == b"Subject: s\r\n\r\nReceived: body line\r\n"


def test_keep_trace_headers_keeps_them(daemons, spool):
    d, port = start(daemons, spool, "--keep-trace-headers")
    data = b"Received: from web1 (10.1.2.3)\r\nSubject: s\r\n\r\nb\r\n"
    queued_id(send_message(port, data))
    assert raw_data(only_message(spool)[1]) == data


def test_rfc2047_subject_and_mime_body_are_extracted(daemons, spool):
    d, port = start(daemons, spool)
    data = (b"Subject: =?ISO-8859-1?Q?R=E9sum=E9?= =?UTF-8?B?8J+Ukw==?=\r\n"
            b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n"
            b"--B\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>x</p>\r\n"
            b"--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\nna=EFve\r\n--B--\r\n")
    queued_id(send_message(port, data))
    obj = only_message(spool)[1]
    assert obj["subject"] == "R\u00e9sum\u00e9\U0001f513"
    assert obj["body"] == "na\u00efve"
