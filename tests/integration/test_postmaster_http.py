"""PostMaster's HTTP surface: bad input, authentication, health, metrics,
listening, command line."""

import json
import os
import re
import signal
import socket
import stat
import subprocess
import time

from conftest import binary, free_port, run_program, spool_messages, wait_for_path
from postmaster_helpers import (Server, area, curl, get_json, metrics,
                                spool_snapshot, start_postmaster, wait_until,
                                write_message, write_messages)

LEASE = "0000ffff0123456789abcdef"


def leased_one(pm, spool):
    mid = write_message(spool)
    wait_until(lambda: metrics(pm.url)["postoffice_queued"] == 1, what="indexed")
    status, r = get_json(pm.url + "/lease", "POST")
    return r["lease"], mid


def test_unknown_path_gets_404(daemons, spool):
    pm = start_postmaster(daemons, spool)
    for path in ("/x", "/lease/", "/leases", "/healthz/", "//", "/leases/%s/x/nack" % LEASE):
        status, hdrs, body = curl(pm.url + path)
        assert status == 404, path
        assert json.loads(body) == {"error": "no such resource"}


def test_wrong_method_gets_405_with_allow(daemons, spool):
    write_messages(spool, 2)
    pm = start_postmaster(daemons, spool)
    cases = [("POST", "/", "GET"), ("HEAD", "/", "GET"), ("DELETE", "/", "GET"),
             ("GET", "/lease", "POST"), ("PUT", "/healthz", "GET, HEAD"),
             ("POST", "/metrics", "GET, HEAD"),
             ("GET", "/leases/%s/%s/ack" % (LEASE, "0" * 32), "POST")]
    for method, path, allow in cases:
        argv_head = method == "HEAD"
        status, hdrs, body = curl(pm.url + path, method) if not argv_head else \
            head(pm.url + path)
        assert status == 405, (method, path)
        assert hdrs["allow"] == allow
    assert len(spool_messages(spool)) == 2     # nothing drained by HEAD


def head(url):
    p = subprocess.run(["curl", "-s", "-I", url], capture_output=True, check=True)
    lines = p.stdout.decode().split("\r\n")
    hdrs = {l.split(":")[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    return int(lines[0].split()[1]), hdrs, b""


def test_ids_and_leases_not_of_the_exact_form_get_400_and_touch_nothing(daemons, spool):
    pm = start_postmaster(daemons, spool)
    L, mid = leased_one(pm, spool)
    write_messages(spool, 2)
    with open(os.path.join(spool, ".dead", mid), "w") as f:
        f.write("{}")           # a file a traversal could aim at
    before = spool_snapshot(spool)
    bad = ["/leases/%s/../.dead/%s/ack" % (L, mid),
           "/leases/%s/..%%2f.dead%%2f%s/ack" % (L, mid[:24]),
           "/leases/%s//etc/passwd/ack" % L,
           "/leases/%s/%s/ack" % (L, mid.upper()),
           "/leases/%s/%s/ack" % (L, mid[:31]),
           "/leases/%s/%s0/fail" % (L, mid),
           "/leases/%s/%s%%00/ack" % (L, mid[:29]),
           "/leases/%s/%s/ack" % (L.upper(), mid),
           "/leases/../%s/ack" % mid,
           "/leases/%s/%s/ack" % (L[:23], mid),
           "/leases/%s/../../%s/fail" % (L, mid)]
    for path in bad:
        status, _, body = curl(pm.url + path, "POST")
        assert status == 400, path
        assert "error" in json.loads(body)
    assert spool_snapshot(spool) == before


def test_malformed_failure_reports_get_400_and_the_message_stays_leased(daemons, spool):
    pm = start_postmaster(daemons, spool)
    L, mid = leased_one(pm, spool)
    before = spool_snapshot(spool)
    for body in (b"", b"not json", b"[]", b'"x"', b'{"permanent": "yes", "reason": "x"}',
                 b'{"permanent": false}', b'{"reason": "x"}',
                 b'{"permanent": false, "reason": 5}', b'{"permanent": false, "reason": "x"'):
        status, _, out = curl("%s/leases/%s/%s/fail" % (pm.url, L, mid), "POST", data=body)
        assert status == 400, body
        assert "error" in json.loads(out)
    assert spool_snapshot(spool) == before
    assert area(spool, ".leased") == ["%s.%s" % (mid, L)]


def test_oversized_request_body_gets_413(daemons, spool):
    pm = start_postmaster(daemons, spool)
    L, mid = leased_one(pm, spool)
    before = spool_snapshot(spool)
    big = json.dumps({"permanent": False, "reason": "x" * 70000}).encode()
    url = "%s/leases/%s/%s/fail" % (pm.url, L, mid)
    status, _, body = curl(url, "POST", data=big)
    assert status == 413
    assert json.loads(body) == {"error": "request body larger than 65536 bytes"}
    # the same without a Content-Length (chunked): refused at the end
    status, _, body = curl(url, "POST", data=big, headers=["Transfer-Encoding: chunked"])
    assert status == 413
    assert spool_snapshot(spool) == before
    # exactly at the limit is fine
    ok = b'{"permanent": false, "reason": "' + b"y" * (65536 - 34) + b'"}'
    assert len(ok) == 65536
    status, _, body = curl(url, "POST", data=ok)
    assert status == 200 and json.loads(body)["status"] == "deferred"


def make_htpasswd(tree):
    path = os.path.join(tree, "htpasswd")
    subprocess.run(["htpasswd", "-c", "-b", "-B", path, "alice", "bcrypt-pass"],
                   check=True, capture_output=True)
    sha = subprocess.run(["openssl", "passwd", "-6", "sha-pass"], check=True,
                         capture_output=True).stdout.decode().strip()
    with open(path, "a") as f:
        f.write("bob:%s\n" % sha)
    return path


def test_basic_auth_bcrypt_and_sha512_users_get_in(daemons, tree, spool):
    write_messages(spool, 1)
    pm = start_postmaster(daemons, spool, "--htpasswd", make_htpasswd(tree))
    assert curl(pm.url + "/metrics", user="alice:bcrypt-pass")[0] == 200
    assert curl(pm.url + "/metrics", user="bob:sha-pass")[0] == 200
    status, batch = get_json(pm.url + "/", user="bob:sha-pass")
    assert status == 200 and len(batch) == 1


def test_wrong_password_unknown_user_or_no_credentials_get_the_same_401(daemons, tree, spool):
    write_messages(spool, 2)
    pm = start_postmaster(daemons, spool, "--htpasswd", make_htpasswd(tree))
    answers = set()
    for user in ("alice:wrong", "mallory:bcrypt-pass", "bob:bcrypt-pass", None, "alice:"):
        for path, method in (("/", "GET"), ("/lease", "POST"), ("/metrics", "GET"),
                             ("/leases/%s/%s/ack" % (LEASE, "0" * 32), "POST"),
                             ("/leases/%s/..%%2f/ack" % LEASE, "POST")):
            status, hdrs, body = curl(pm.url + path, method, user=user)
            assert status == 401, (user, path)
            assert hdrs["www-authenticate"] == 'Basic realm="postmaster"'
            answers.add(body)
    assert answers == {b'{"error":"authentication required"}'}
    assert len(spool_messages(spool)) == 2
    # /healthz needs none
    assert curl(pm.url + "/healthz")[0] == 200


def test_sighup_rereads_the_htpasswd_file(daemons, tree, spool):
    path = make_htpasswd(tree)
    pm = start_postmaster(daemons, spool, "--htpasswd", path)
    assert curl(pm.url + "/metrics", user="carol:new-pass")[0] == 401
    subprocess.run(["htpasswd", "-b", "-B", path, "carol", "new-pass"], check=True,
                   capture_output=True)
    pm.d.proc.send_signal(signal.SIGHUP)
    pm.wait_log("reloaded %s: 3 users" % path)
    assert curl(pm.url + "/metrics", user="carol:new-pass")[0] == 200
    # a broken file keeps the old credentials
    with open(path, "a") as f:
        f.write("dave:plaintext\n")
    pm.d.proc.send_signal(signal.SIGHUP)
    pm.wait_log("keeping the old credentials")
    assert curl(pm.url + "/metrics", user="carol:new-pass")[0] == 200


def test_an_htpasswd_file_without_users_is_warned_of_at_start_and_reload(
        daemons, tree, spool):
    path = os.path.join(tree, "htpasswd")
    open(path, "w").close()
    pm = start_postmaster(daemons, spool, "--htpasswd", path)
    warning = ("postmaster[%d]: %s has no users: every request will get 401 "
               "(add one with: htpasswd -B %s NAME)\n" % (pm.d.pid, path, path))
    pm.wait_log(warning)
    assert curl(pm.url + "/metrics", user="alice:x")[0] == 401
    # filled in: no warning at the reload
    subprocess.run(["htpasswd", "-b", "-B", path, "alice", "pw"], check=True,
                   capture_output=True)
    pm.d.proc.send_signal(signal.SIGHUP)
    pm.wait_log("reloaded %s: 1 users" % path)
    assert pm.log().count(warning) == 1
    assert curl(pm.url + "/metrics", user="alice:pw")[0] == 200
    # emptied again: the reload warns
    open(path, "w").close()
    pm.d.proc.send_signal(signal.SIGHUP)
    pm.wait_log("reloaded %s: 0 users" % path)
    pm.wait_log(warning, count=2)


def test_listen_on_port_0_logs_the_port_it_got(daemons, spool):
    d = daemons([binary("postmaster"), "-s", spool, "-l", "127.0.0.1:0"])
    pat = re.compile(r"listening on 127\.0\.0\.1:(\d+), spool=%s, queued=0, "
                     r"auth=none$" % re.escape(spool), re.M)
    assert wait_until(lambda: pat.search(d.stderr())), d.stderr()
    port = int(pat.search(d.stderr()).group(1))
    assert port != 0
    assert curl("http://127.0.0.1:%d/healthz" % port)[0] == 200


def test_healthz_is_ok_then_503_when_a_spool_folder_is_gone(daemons, spool):
    pm = start_postmaster(daemons, spool)
    status, hdrs, body = curl(pm.url + "/healthz")
    assert (status, body) == (200, b"ok")
    assert hdrs["content-type"] == "text/plain"
    os.rmdir(os.path.join(spool, ".quarantine"))
    status, hdrs, body = curl(pm.url + "/healthz")
    assert status == 503
    assert body.decode() == "spool %s/.quarantine: No such file or directory\n" % spool


def test_metrics_count_every_area(daemons, spool):
    old = "%014x" % int((time.time() - 100) * 1e6) + "0" * 18
    write_message(spool, mid=old)
    write_messages(spool, 3)
    write_message(spool, raw=b"junk")
    os.makedirs(os.path.join(spool, ".dead"), exist_ok=True)
    with open(os.path.join(spool, ".dead", "f" * 32), "w") as f:
        f.write("{}")
    pm = start_postmaster(daemons, spool, "--batch", "2")
    m = metrics(pm.url)
    assert m["postoffice_queued"] == 5
    assert 100 <= m["postoffice_oldest_age_seconds"] < 130
    status, r = get_json(pm.url + "/lease", "POST")
    assert len(r["messages"]) == 2
    m = metrics(pm.url)
    assert (m["postoffice_queued"], m["postoffice_leased"], m["postoffice_dead"],
            m["postoffice_served_total"]) == (3, 2, 1, 2)
    status, hdrs, body = curl(pm.url + "/metrics")
    assert hdrs["content-type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE postoffice_served_total counter" in body


def test_unix_socket_with_its_mode(daemons, tree, spool):
    write_messages(spool, 1)
    sock = os.path.join(tree, "pm.socket")
    d = daemons([binary("postmaster"), "-s", spool, "-l", "unix:" + sock,
                 "--socket-mode", "0600"])
    wait_for_path(sock)
    st = os.stat(sock)
    assert stat.S_ISSOCK(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o600
    wait_until(lambda: curl_ok(sock), what="socket answering")
    status, _, body = curl("http://localhost/", unix=sock)
    assert status == 200 and len(json.loads(body)) == 1
    # The log line is written once the response has gone out.
    wait_until(lambda: "status=served, client=unix" in d.stderr(),
               what="the served line in the log")
    assert d.stop() == 0
    assert not os.path.exists(sock)


def curl_ok(sock):
    try:
        return curl("http://localhost/healthz", unix=sock)[0] == 200
    except subprocess.CalledProcessError:
        return False


def run(*args, timeout=10):
    """Runs postmaster to its end (under valgrind with VALGRIND=1)."""
    return run_program([binary("postmaster")] + list(args), timeout=timeout,
                       text=True)


def test_non_loopback_address_without_auth_is_refused(daemons, tree, spool):
    port = free_port()
    p = run("-s", spool, "-l", "0.0.0.0:%d" % port)
    assert p.returncode == 64
    assert p.stderr == ("postmaster: refusing to serve 0.0.0.0:%d without --htpasswd "
                        "(--insecure-no-auth allows it)\n" % port)
    d = daemons([binary("postmaster"), "-s", spool, "-l", "0.0.0.0:%d" % port,
                 "--insecure-no-auth"])
    from conftest import wait_for_port
    wait_for_port(port, d.proc)


def test_command_line_errors_give_one_line_and_a_sysexits_status(tree, spool):
    p = run("--bogus")
    assert (p.returncode, p.stderr) == (64, "postmaster: unknown option '--bogus' (see --help)\n")
    p = run("--batch", "0")
    assert p.returncode == 64 and p.stderr.count("\n") == 1 and "--batch" in p.stderr
    p = run("-s", os.path.join(tree, "nope"), "-l", "127.0.0.1:%d" % free_port())
    assert p.returncode == 66
    assert p.stderr == "postmaster: spool %s/nope: No such file or directory\n" % tree
    # no socket is made for a spool that cannot be opened
    sock = os.path.join(tree, "pm.sock")
    p = run("-s", os.path.join(tree, "nope"), "-l", "unix:" + sock)
    assert p.returncode == 66 and not os.path.exists(sock)
    p = run("-s", spool, "--htpasswd", os.path.join(tree, "missing"))
    assert p.returncode == 66
    assert p.stderr == "postmaster: %s/missing: No such file or directory\n" % tree
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = run("-s", spool, "-l", "127.0.0.1:%d" % port)
        assert p.returncode == 69
        assert p.stderr == "postmaster: 127.0.0.1:%d: Address already in use\n" % port
    p = run("-l", "nonsense")
    assert p.returncode == 64 and p.stderr.count("\n") == 1
    # the address's form is checked before the spool is read
    p = run("-s", os.path.join(tree, "nope"), "-l", "nonsense")
    assert p.returncode == 64 and "nonsense" in p.stderr
    p = run("--help")
    assert p.returncode == 0 and "--lease-time" in p.stdout
    p = run("--version")
    assert p.returncode == 0 and p.stdout.startswith("postmaster ")


def test_sigterm_stops_cleanly_and_leaves_leases_in_place(daemons, spool):
    ids = write_messages(spool, 2)
    pm = start_postmaster(daemons, spool)
    status, r = get_json(pm.url + "/lease", "POST")
    assert pm.d.stop() == 0
    assert area(spool, ".leased") == ["%s.%s" % (i, r["lease"]) for i in ids]
    assert "stopped" in pm.log()


def test_socket_passed_by_systemd_is_used_instead_of_listen(daemons, spool):
    ids = write_messages(spool, 1)
    port = free_port()
    # systemd-socket-activate listens, then execs PostMaster with
    # LISTEN_FDS=1 on the first connection; -l points nowhere usable.
    d = daemons(["systemd-socket-activate", "-l", "127.0.0.1:%d" % port,
                 binary("postmaster"), "-s", spool, "-l", "127.0.0.1:1"],
                name="postmaster")
    from conftest import wait_for_port
    wait_for_port(port, d.proc)
    pm = Server(d, port=port)
    pm.wait_log("listening on systemd socket")
    status, batch = get_json(pm.url + "/")
    assert [m["id"] for m in batch] == ids


def test_htpasswd_with_an_unsupported_hash_is_refused_at_startup(tree, spool):
    path = os.path.join(tree, "htpasswd")
    subprocess.run(["htpasswd", "-c", "-b", "-m", path, "dave", "x"], check=True,
                   capture_output=True)
    p = run("-s", spool, "--htpasswd", path)
    assert p.returncode == 65
    assert p.stderr == ("postmaster: %s: line 1: user dave: unsupported password hash "
                        "(use bcrypt, htpasswd -B, or SHA-512-crypt)\n" % path)
