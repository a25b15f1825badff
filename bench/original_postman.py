"""The original PostMan (postman.py) rebuilt from its README, to compare
against: one GET per run, then for each message a new mail rebuilt from
its subject and text body, sent with smtplib over a connection of its
own.  The original used requests; urllib stands in (same one request).

usage: original_postman.py URL SMTPHOST SMTPPORT
Prints the number of messages sent.
"""
import json
import smtplib
import sys
import urllib.request
from email.mime.text import MIMEText


def main():
    url, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with urllib.request.urlopen(url, timeout=30) as r:
        messages = json.loads(r.read())
    for message in messages:
        mail = MIMEText(message["body"])
        mail["Subject"] = message["subject"]
        mail["From"] = message["mail_from"]
        mail["To"] = ", ".join(message["rcpt_tos"])
        with smtplib.SMTP(host, port, timeout=30) as smtp:
            smtp.sendmail(message["mail_from"], message["rcpt_tos"],
                          mail.as_string())
    print(len(messages))


if __name__ == "__main__":
    main()
