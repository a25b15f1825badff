"""Basic auth that wrong passwords cannot stall: credentials that passed
are remembered, others are checked off the request thread."""

import base64
import http.client
import os
import signal
import subprocess
import threading

from postmaster_helpers import curl, start_postmaster, write_messages

REFUSED = b'{"error":"authentication required"}'


def add_user(path, user, password, cost=5, create=False):
    subprocess.run(["htpasswd"] + (["-c"] if create else []) +
                   ["-b", "-B", "-C", str(cost), path, user, password],
                   check=True, capture_output=True)


def request(port, user, password, path="/metrics"):
    """One request on a connection of its own: (status, body)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    token = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    c.request("GET", path, headers={"Authorization": "Basic " + token})
    r = c.getresponse()
    out = (r.status, r.read())
    c.close()
    return out


def test_right_client_is_answered_while_a_wrong_password_is_being_checked(daemons, tree, spool):
    """slow has a bcrypt cost of 15 (a second or more per check): a wrong
    password for it is still being checked when the right client, whose
    credentials passed before, asks again, and gets its answer first."""
    path = os.path.join(tree, "htpasswd")
    add_user(path, "alice", "right", create=True)
    add_user(path, "slow", "slow-pass", cost=15)
    pm = start_postmaster(daemons, spool, "--htpasswd", path)
    assert request(pm.port, "alice", "right")[0] == 200
    wrong = []
    t = threading.Thread(target=lambda: wrong.append(
        request(pm.port, "slow", "wrong")))
    t.start()
    try:
        # The check of slow's password has started once the server is
        # busy with it; a cached check takes no crypt(3) run at all.
        for _ in range(5):
            assert request(pm.port, "alice", "right")[0] == 200
            assert t.is_alive(), "the wrong password was answered first"
    finally:
        t.join()
    assert wrong == [(401, REFUSED)]


def test_sixteen_wrong_password_clients_get_401_and_the_right_one_200(daemons, tree, spool):
    path = os.path.join(tree, "htpasswd")
    add_user(path, "alice", "right", cost=10, create=True)
    write_messages(spool, 1)
    pm = start_postmaster(daemons, spool, "--htpasswd", path)
    stop = threading.Event()
    wrong = []

    def attacker(i):
        while not stop.is_set():
            wrong.append(request(pm.port, "alice" if i % 2 else "mallory",
                                 "guess-%d" % i))

    threads = [threading.Thread(target=attacker, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    try:
        right = [request(pm.port, "alice", "right") for _ in range(20)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert {s for s, _ in right} == {200}
    assert wrong and set(wrong) == {(401, REFUSED)}


def test_a_cached_user_with_a_wrong_password_is_refused(daemons, tree, spool):
    path = os.path.join(tree, "htpasswd")
    add_user(path, "alice", "right", create=True)
    pm = start_postmaster(daemons, spool, "--htpasswd", path)
    assert request(pm.port, "alice", "right")[0] == 200
    for password in ("wrong", "righ", "right ", "RIGHT", ""):
        assert request(pm.port, "alice", password) == (401, REFUSED), password
    assert request(pm.port, "alice", "right")[0] == 200


def test_a_password_changed_in_the_file_takes_effect_on_sighup(daemons, tree, spool):
    path = os.path.join(tree, "htpasswd")
    add_user(path, "alice", "old-pass", create=True)
    pm = start_postmaster(daemons, spool, "--htpasswd", path)
    assert request(pm.port, "alice", "old-pass")[0] == 200     # now cached
    add_user(path, "alice", "new-pass")
    pm.d.proc.send_signal(signal.SIGHUP)
    pm.wait_log("reloaded %s: 1 users" % path)
    assert request(pm.port, "alice", "old-pass") == (401, REFUSED)
    assert request(pm.port, "alice", "new-pass")[0] == 200
    assert curl(pm.url + "/metrics", user="alice:new-pass")[0] == 200
