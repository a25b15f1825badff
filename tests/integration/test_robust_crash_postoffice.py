"""Crash consistency of PostOffice: SIGKILL at random moments under load,
restart on the same spool, and check that nothing acknowledged is lost,
nothing half-written is ever taken for a message, and nothing is queued
that the client was not told about (unless its connection dropped after
the final dot, when the client cannot know either way)."""

import json
import os
import re
import random
import signal
import subprocess
import time

from conftest import VALGRIND, free_port, spool_messages, wait_for_port
from postoffice_util import HOST, binary, postfix_tools
from robust_util import Load, audit_spool, record_figures, stray_names

# A SIGKILLed process leaves no valgrind report, so under valgrind a few
# kills suffice to check the restarts and the final clean stop.
KILLS = int(os.environ.get("ROBUST_KILLS", "5" if VALGRIND else "50"))
# How long each life of the daemon lasts, in seconds (valgrind is slow).
LIFE = (0.5, 3.0) if VALGRIND else (0.05, 0.6)


def start_postoffice(daemons, spool, port):
    d = daemons([binary("postoffice"), "-s", spool, "--hostname", HOST,
                 "-l", "127.0.0.1:%d" % port, "--max-connections", "200"],
                name="postoffice")
    wait_for_port(port, d.proc)
    return d


def smtp_source(port, tools, log):
    """Postfix's smtp-source as a second load (the caller starts it again
    when it gives up because the server went away).  With -v it logs every
    reply it reads, so the ids PostOffice acknowledged to it are known."""
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(tools, "usr/lib/postfix"))
    argv = [os.path.join(tools, "usr/sbin/smtp-source"), "-v", "-s", "4",
            "-m", "1000000", "-l", "3000", "-f", "source@robust.example",
            "-t", "sink@robust.example", "127.0.0.1:%d" % port]
    return subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL,
                            stderr=log)


def smtp_source_acknowledged(path):
    """The ids of the 250 replies smtp-source read after its final dots."""
    with open(path, "rb") as f:
        return set(re.findall(rb"<<< 250 2\.0\.0 Ok: queued as ([0-9a-f]{32})\b",
                              f.read()))


def test_sigkill_under_load_loses_no_acknowledged_message(daemons, spool):
    port = free_port()
    rnd = random.Random(int(os.environ.get("ROBUST_SEED", "6")))
    tools = postfix_tools()
    d = start_postoffice(daemons, spool, port)
    load = Load(port, workers=4, seed=rnd.randint(1, 1 << 30)).start()
    source_log_path = os.path.join(os.path.dirname(spool), "smtp-source.log")
    source_log = open(source_log_path, "ab")
    source = smtp_source(port, tools, source_log)
    kills = 0
    t0 = time.monotonic()
    try:
        while kills < KILLS:
            time.sleep(rnd.uniform(*LIFE))
            if source.poll() is not None:
                source = smtp_source(port, tools, source_log)
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            kills += 1
            d.stop()
            # Whatever the crash left in the queue is whole already.
            assert stray_names(spool) == []
            d = start_postoffice(daemons, spool, port)
        # Let the load run against the last instance, then stop cleanly.
        time.sleep(0.5)
    finally:
        load.stop()
        source.kill()
        source.wait()
        source_log.close()
    assert d.stop() == 0
    found = audit_spool(spool, load.ledger)
    # smtp-source's acknowledged messages are there too, under their ids,
    # and from it (audit_spool has decoded every file already).
    stored = set(n.encode() for n in spool_messages(spool))
    source_acked = smtp_source_acknowledged(source_log_path)
    assert source_acked, "smtp-source had no message acknowledged"
    lost = sorted(source_acked - stored)
    assert not lost, "acknowledged to smtp-source and lost: %r" % lost[:10]
    for mid in sorted(source_acked)[:50]:
        with open(os.path.join(spool, mid.decode()), "rb") as f:
            assert json.load(f)["mail_from"] == "source@robust.example"
    # What the kills left in .tmp/ is removed by a start once it is stale
    # (younger files could be another writer's); a clean stop leaves none.
    tmp = os.path.join(spool, ".tmp")
    stale = time.time() - 11 * 60
    for name in os.listdir(tmp):
        os.utime(os.path.join(tmp, name), (stale, stale))
    d = start_postoffice(daemons, spool, port)
    assert d.stop() == 0
    assert os.listdir(tmp) == []
    assert stray_names(spool) == []
    led = load.ledger
    in_doubt = led.in_doubt()
    record_figures("crash_postoffice", kills=kills, seconds=round(time.monotonic() - t0, 1),
                   messages_sent=len(led.dot_sent), acknowledged=len(led.acked),
                   refused=len(led.refused), in_doubt=len(in_doubt),
                   in_doubt_stored=len([t for t in in_doubt if t in found]),
                   other_load_stored=len(spool_messages(spool)) - len(found),
                   smtp_source_acknowledged=len(source_acked),
                   lost=0)
    # The test must have tested something: messages acknowledged in many
    # of the daemon's lives, and some connections cut after the dot.
    assert len(led.acked) > (2 if VALGRIND else 5) * kills
