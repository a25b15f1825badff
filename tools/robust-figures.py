#!/usr/bin/python3
"""Prints the robustness figures the last `make check` recorded in
BUILD/robust-figures/ (BUILD defaults to build) as the rows of README's
crash-consistency table and its fault-injection summary, so that the
tables are copied from a run rather than typed."""

import json
import os
import sys


def load(d, name):
    try:
        with open(os.path.join(d, name + ".json")) as f:
            return json.load(f)
    except FileNotFoundError:
        sys.exit("robust-figures: no %s.json in %s: run make check first"
                 % (name, d))


def main():
    d = os.path.join(os.environ.get("BUILD", "build"), "robust-figures")
    po = load(d, "crash_postoffice")
    pm = load(d, "crash_postmaster")
    pn = load(d, "crash_postman")
    fl = load(d, "faults")
    print("| daemon killed | kills | load | messages | acknowledged | lost |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    print("| postoffice | {kills} | 4 auditing SMTP clients (pipelined, 100 B "
          "to 300 KiB) + Postfix `smtp-source` | {sent:,} sent by the "
          "clients, {src:,} acknowledged to smtp-source | {acked:,} got 250, "
          "and the {src:,} | **{lost}** |".format(
              kills=po["kills"], sent=po["messages_sent"],
              src=po.get("smtp_source_acknowledged", 0),
              acked=po["acknowledged"], lost=po["lost"]))
    print("| postmaster | {kills} | 3 lease clients acknowledging 70 % of "
          "what they lease | {n:,} | {n:,} delivered ({served:,} servings) | "
          "**{lost}** |".format(kills=pm["kills"], n=pm["messages"],
                                served=pm["served"], lost=pm["lost"]))
    print("| postman | {kills} | PostMan with a sendmail taking 30 ms per "
          "message | {n:,} | {n:,} delivered ({d:,} deliveries) | "
          "**{lost}** |".format(kills=pn["kills"], n=pn["messages"],
                                d=pn["deliveries"], lost=pn["lost"]))
    print()
    print("in doubt (connection dropped after the final dot): %d, of which "
          "stored: %d" % (po["in_doubt"], po["in_doubt_stored"]))
    print("PostMan deliveries beyond one per message: %d" % pn["redelivered"])
    print()
    print("%d fault scenarios, %d system-call failures injected through the "
          "shim, %s concurrent connections" % (
              fl["fault_cases"], fl["faults_injected"],
              format(fl.get("connections", 0), ",")))


if __name__ == "__main__":
    main()
