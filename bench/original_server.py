"""The original PostMaster (server.py) rebuilt from its README, to compare
against: a falcon application that reads at most 50 files of the messages
folder, deletes each one after reading it, and returns them as a JSON
list.  Run under gunicorn:

    POSTOFFICE_MESSAGES=DIR gunicorn -b 127.0.0.1:PORT original_server:application
"""
import json
import os

import falcon

FOLDER = os.environ.get("POSTOFFICE_MESSAGES", "messages")


class Messages:
    def on_get(self, req, resp):
        messages = []
        for name in os.listdir(FOLDER):
            if len(messages) >= 50:
                break
            path = os.path.join(FOLDER, name)
            with open(path) as f:
                messages.append(json.load(f))
            os.remove(path)
        resp.text = json.dumps(messages)
        resp.content_type = falcon.MEDIA_JSON


application = falcon.App()
application.add_route("/", Messages())
