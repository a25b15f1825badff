#!/usr/bin/python3
"""smtp_responder.py PORT STAGE REPLY - a destination MX that refuses.

Listens on 127.0.0.1:PORT and speaks just enough SMTP (RFC 5321) for a
client to reach STAGE, where it answers REPLY instead of accepting:

    rcpt   REPLY to every RCPT TO
    data   250 to RCPT, REPLY after the message's final dot

e.g. "smtp_responder.py 2526 rcpt '550 5.1.1 <bob@example.net>: Recipient
address rejected'".  Every command it reads is logged on stderr.  Runs
until SIGTERM."""

import signal
import socketserver
import sys


class Session(socketserver.StreamRequestHandler):
    timeout = 30

    def send(self, line):
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def data(self):
        """Reads the message up to its final dot; returns its size."""
        size = 0
        while True:
            line = self.rfile.readline()
            if line in (b"", b".\r\n", b".\n"):
                return size
            size += len(line)

    def handle(self):
        stage, reply = self.server.stage, self.server.reply
        self.send("220 responder ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            cmd = line.decode("utf-8", "replace").rstrip("\r\n")
            print("responder: " + cmd, file=sys.stderr, flush=True)
            verb = cmd[:4].upper()
            if verb in ("EHLO", "HELO", "MAIL", "RSET", "NOOP"):
                self.send("250 2.0.0 Ok")
            elif verb == "RCPT":
                self.send(reply if stage == "rcpt" else "250 2.1.5 Ok")
            elif verb == "DATA":
                self.send("354 End data with <CR><LF>.<CR><LF>")
                size = self.data()
                print("responder: data size=%d" % size, file=sys.stderr, flush=True)
                self.send(reply if stage == "data" else "250 2.0.0 Ok")
            elif verb == "QUIT":
                self.send("221 2.0.0 Bye")
                return
            else:
                self.send("500 5.5.2 Error: command not recognized")


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    if len(sys.argv) != 4 or sys.argv[2] not in ("rcpt", "data"):
        print(__doc__, file=sys.stderr)
        return 64
    srv = Server(("127.0.0.1", int(sys.argv[1])), Session)
    srv.stage, srv.reply = sys.argv[2], sys.argv[3]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        srv.serve_forever()
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
