import os
import sys
import time


def handle(event, context):
    """py-echo answers what it received; the env var sleep_ms makes it wait that long first (as if on I/O)."""
    wait = int(os.environ.get("sleep_ms", "0") or 0)
    if wait > 0:
        time.sleep(wait / 1000)
    return {
        "statusCode": int(event.query.get("status", "200")),
        "body": {
            "body": event.body.decode("utf-8", "replace"),
            "method": event.method,
            "path": event.path,
            "query": {k: event.query.getlist(k) for k in event.query},
            "content-type": event.headers.get("content-type"),
            "runtime": "python %d.%d" % sys.version_info[:2],
            "hostname": context.hostname,
        },
        "headers": {"X-Runtime": "python"},
    }
