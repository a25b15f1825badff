"""The original PostOffice (smtpd.py) rebuilt from its README, to compare
against: an aiosmtpd server that writes each message as one JSON file
(mail_from, rcpt_tos, subject, body, data, timestamp) into a folder, in
place and without fsync.  The original parsed mail with mail-parser, which
is not packaged for Debian; the standard library's email parser (which
mail-parser builds on) stands in for it.

usage: original_smtpd.py HOST PORT DIR
"""
import asyncio
import datetime
import email
import email.policy
import json
import os
import sys
import uuid

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, folder):
        self.folder = folder

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.content.decode("utf-8")
        mail = email.message_from_string(raw, policy=email.policy.default)
        body = mail.get_body(preferencelist=("plain", "html"))
        message = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(mail.get("subject", "")),
            "body": body.get_content() if body is not None else "",
            "data": raw,
            "timestamp": datetime.datetime.utcnow().isoformat(),
        }
        path = os.path.join(self.folder, uuid.uuid4().hex)
        with open(path, "w") as f:
            json.dump(message, f)
        return "250 Message accepted for delivery"


def main():
    host, port, folder = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    handler = Handler(folder)
    server = loop.run_until_complete(loop.create_server(
        lambda: SMTP(handler, data_size_limit=0, enable_SMTPUTF8=True),
        host=host, port=port, backlog=1024))
    print("ready", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()


if __name__ == "__main__":
    main()
