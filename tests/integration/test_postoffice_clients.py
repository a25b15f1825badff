"""PostOffice driven by real SMTP clients: swaks, Python's smtplib, curl's
smtp:// and Postfix's smtp-source."""

import os
import smtplib
import subprocess

from conftest import spool_messages
from postoffice_util import (load, only_message, postfix_tools, raw_data,
                             start, tmp_files)


def test_smtplib_sendmail_is_spooled(daemons, spool):
    d, port = start(daemons, spool)
    msg = ("From: a@b.example\r\nTo: c@d.example\r\n"
           "Subject: =?utf-8?q?smtplib_=C3=A9?=\r\n\r\nHello from smtplib.\r\n.dot\r\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        code, text = s.ehlo("client.test")
        assert code == 250 and b"PIPELINING" in text and b"8BITMIME" in text
        refused = s.sendmail("a@b.example", ["c@d.example", "x@y.example"], msg)
        assert refused == {}
    name, obj = only_message(spool)
    assert obj["subject"] == "smtplib \u00e9"
    assert obj["rcpt_tos"] == ["c@d.example", "x@y.example"]
    assert raw_data(obj) == msg.encode()


def test_smtplib_sees_452_for_too_many_recipients(daemons, spool):
    d, port = start(daemons, spool, "--max-rcpt", "1")
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        refused = s.sendmail("a@b.example", ["c@d.example", "e@d.example"],
                             "Subject: x\r\n\r\ny\r\n")
    assert refused == {"e@d.example": (452, b"4.5.3 Error: too many recipients")}
    assert load(spool, only_message(spool)[0])["rcpt_tos"] == ["c@d.example"]


def test_smtplib_8bitmime_latin1_round_trips(daemons, spool):
    d, port = start(daemons, spool)
    body = b"Subject: latin\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\nd\xe9j\xe0 vu\r\n"
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo()
        s.sendmail("a@b.example", ["c@d.example"], body, mail_options=["BODY=8BITMIME"])
    name, obj = only_message(spool)
    assert "data_base64" in obj
    assert raw_data(obj) == body
    assert obj["body"] == "d\u00e9j\u00e0 vu\r\n"


def test_swaks_message_is_spooled_and_scrubbed(daemons, spool):
    d, port = start(daemons, spool)
    r = subprocess.run(
        ["swaks", "--server", "127.0.0.1:%d" % port, "--from", "web@b.example",
         "--to", "user@d.example", "--header", "Subject: swaks test",
         "--add-header", "Received: from backend.internal (10.0.0.7)",
         "--add-header", "X-Originating-IP: [10.0.0.8]",
         "--body", "swaks body"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert b"<-  250 2.0.0 Ok: queued as " in r.stdout
    name, obj = only_message(spool)
    assert obj["subject"] == "swaks test"
    assert obj["body"].startswith("swaks body")
    data = raw_data(obj)
    assert b"backend.internal" not in data and b"10.0.0.8" not in data
    assert b"Subject: swaks test\r\n" in data


def test_swaks_pipelining_session(daemons, spool):
    d, port = start(daemons, spool)
    r = subprocess.run(
        ["swaks", "--pipeline", "--server", "127.0.0.1:%d" % port,
         "--from", "a@b.example", "--to", "c@d.example,e@f.example"],
        capture_output=True, timeout=30)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()
    assert load(spool, only_message(spool)[0])["rcpt_tos"] == ["c@d.example", "e@f.example"]


def test_curl_smtp_upload_is_spooled_exactly(daemons, spool, tree):
    d, port = start(daemons, spool)
    path = os.path.join(tree, "mail.txt")
    data = b"From: a@b.example\r\nTo: c@d.example\r\nSubject: curl\r\n\r\nfrom curl\r\n.starts with a dot\r\n"
    with open(path, "wb") as f:
        f.write(data)
    r = subprocess.run(
        ["curl", "-sS", "--url", "smtp://127.0.0.1:%d" % port, "--mail-from", "a@b.example",
         "--mail-rcpt", "c@d.example", "--upload-file", path], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr.decode()
    name, obj = only_message(spool)
    assert obj["subject"] == "curl"
    assert raw_data(obj) == data


def test_curl_sees_failure_for_oversized_message(daemons, spool, tree):
    d, port = start(daemons, spool, "--max-size", "100")
    path = os.path.join(tree, "big.txt")
    with open(path, "wb") as f:
        f.write(b"Subject: big\r\n\r\n" + b"y" * 500 + b"\r\n")
    r = subprocess.run(
        ["curl", "-sS", "--url", "smtp://127.0.0.1:%d" % port, "--mail-from", "a@b.example",
         "--mail-rcpt", "c@d.example", "--upload-file", path], capture_output=True, timeout=30)
    assert r.returncode != 0
    assert b"552" in r.stderr
    assert spool_messages(spool) == []


def test_smtp_source_load_every_message_is_spooled(daemons, spool):
    tools = postfix_tools()
    d, port = start(daemons, spool)
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(tools, "usr/lib/postfix"))
    r = subprocess.run(
        [os.path.join(tools, "usr/sbin/smtp-source"), "-s", "10", "-m", "200",
         "-l", "2048", "-f", "load@b.example", "-t", "sink@d.example",
         "127.0.0.1:%d" % port], capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    names = spool_messages(spool)
    assert len(names) == 200
    for n in names[:20] + names[-20:]:
        obj = load(spool, n)
        assert obj["mail_from"] == "load@b.example"
        assert obj["rcpt_tos"] == ["sink@d.example"]
    assert tmp_files(spool) == []
    assert d.stderr().count(", nrcpt=1, size=") == 200


def test_smtp_source_pipelined_with_many_recipients(daemons, spool):
    tools = postfix_tools()
    d, port = start(daemons, spool)
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(tools, "usr/lib/postfix"))
    r = subprocess.run(
        [os.path.join(tools, "usr/sbin/smtp-source"), "-s", "4", "-m", "40", "-r", "5",
         "-d", "-f", "load@b.example", "-t", "sink@d.example",
         "127.0.0.1:%d" % port], capture_output=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    names = spool_messages(spool)
    assert len(names) == 40
    assert len(load(spool, names[0])["rcpt_tos"]) == 5
