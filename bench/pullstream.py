#!/usr/bin/env python3
"""Pull an image through the Engine API on a unix socket (the request `pull` sends) and
time each progress message as it arrives. Prints one line: total seconds, unpack
seconds, layers, seconds from the first layer byte to the last layer complete.

Both engines unpack layers one after another, in order; layer i can start unpacking
when its download is complete and layer i-1 is unpacked. So its unpack time is
  "Pull complete"(i) - max("Download complete"(i), "Pull complete"(i-1))
and the image's unpack time is the sum over its layers ("Already exists" layers count
nothing). Usage: pullstream.py SOCKET IMAGE TAG
"""
import http.client
import json
import os
import socket
import sys
import time
import urllib.parse


class UnixConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=600)
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(600)
        self.sock.connect(self.path)


def main():
    sock, image, tag = sys.argv[1:4]
    q = urllib.parse.urlencode({"fromImage": image, "tag": tag})
    conn = UnixConnection(sock)
    t0 = time.monotonic()
    conn.request("POST", f"/v1.41/images/create?{q}", headers={"Content-Length": "0"})
    resp = conn.getresponse()
    if resp.status != 200:
        sys.exit(f"pull: HTTP {resp.status}: {resp.read().decode(errors='replace')}")
    dec = json.JSONDecoder()
    buf = ""
    order = []  # layer ids in the order they were announced (the manifest's)
    done = {}   # id -> time of "Download complete"
    pulled = {}  # id -> time of "Pull complete"
    first = {}  # (id, status) -> time it was first seen (for PULLSTREAM_TIMELINE=1)
    while True:
        chunk = resp.read1(65536)
        now = time.monotonic()
        if not chunk:
            break
        buf += chunk.decode()
        while True:
            buf = buf.lstrip()
            if not buf:
                break
            try:
                msg, end = dec.raw_decode(buf)
            except json.JSONDecodeError:
                break
            buf = buf[end:]
            if "error" in msg:
                sys.exit(f"pull: {msg['error']}")
            lid, status = msg.get("id"), msg.get("status", "")
            first.setdefault((lid, status), now - t0)
            if status == "Pulling fs layer" and lid not in order:
                order.append(lid)
            elif status == "Download complete":
                done.setdefault(lid, now)
            elif status == "Pull complete":
                pulled[lid] = now
    total = time.monotonic() - t0
    unpack, prev = 0.0, None
    for lid in order:
        if lid not in pulled:
            sys.exit(f"pull: layer {lid} never completed")
        start = max(done.get(lid, t0), prev if prev is not None else t0)
        unpack += pulled[lid] - start
        prev = pulled[lid]
    # From the first layer byte to the last layer in: the layers' download and unpack
    # together (an engine that unpacks while it downloads has no unpack window of its
    # own).
    starts = [first[(lid, "Downloading")] for lid in order if (lid, "Downloading") in first]
    fetched = max(pulled.values()) - t0 - min(starts) if starts else total
    print(f"{total:.4f} {unpack:.4f} {len(order)} {fetched:.4f}")
    if os.environ.get("PULLSTREAM_TIMELINE") == "1":
        # Per layer, seconds from the request: download start and end, extract start,
        # pull complete.
        for lid in order:
            cols = [first.get((lid, s)) for s in
                    ("Downloading", "Download complete", "Extracting", "Pull complete")]
            print(lid, " ".join("-" if c is None else f"{c:6.3f}" for c in cols),
                  file=sys.stderr)


if __name__ == "__main__":
    main()
