import hashlib
import time

# py-sleep is I/O-bound like the node20 sleep example: about 50 ms of waiting (as if on a database) plus a little
# fixed CPU work, so the two runtimes can be compared on one workload.
WAIT_MS = 50


def handle(event, context):
    time.sleep(WAIT_MS / 1000)
    digest = event.body or b""
    for _ in range(200):
        digest = hashlib.sha256(digest).digest()
    return {"statusCode": 200, "body": {"slept": WAIT_MS, "digest": digest.hex()[:16]}}
