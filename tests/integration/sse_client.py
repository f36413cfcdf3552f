"""A small Server-Sent Events client for the tests: a raw HTTP/1.1 request
read line by line on a thread (http.client decodes the chunked framing), so
a test can wait for events and heartbeats with timeouts and close the
connection as a browser tab would."""

import http.client
import json
import queue
import socket
import threading
import time
from urllib.parse import urlsplit


class SseStream:
    def __init__(self, base_url, path, key=None, headers=None, timeout=30):
        u = urlsplit(base_url)
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=timeout)
        hdrs = {"Accept": "text/event-stream"}
        if key is not None:
            hdrs["Authorization"] = f"Bearer {key}"
        hdrs.update(headers or {})
        self.conn.request("GET", path, headers=hdrs)
        self.sock = self.conn.sock
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = dict(self.resp.getheaders())
        self.events = queue.Queue()
        self.heartbeats = 0
        self.retry = None
        self.closed = threading.Event()
        if self.status == 200:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()
        else:
            self.body = self.resp.read()
            self.closed.set()

    def _read(self):
        ev = {}
        try:
            while True:
                raw = self.resp.readline()
                if not raw:
                    break
                line = raw.decode().rstrip("\r\n")
                if line == "":
                    if "data" in ev:
                        ev["received"] = time.monotonic()
                        ev["json"] = json.loads(ev["data"])
                        self.events.put(ev)
                    ev = {}
                elif line.startswith(":"):
                    self.heartbeats += 1
                elif line.startswith("retry:"):
                    self.retry = int(line[6:].strip())
                else:
                    name, _, value = line.partition(":")
                    ev[name] = value[1:] if value.startswith(" ") else value
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            pass
        finally:
            self.closed.set()

    def next(self, timeout=10):
        """The next event (dict: id, event, data, json, received)."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout} s") from None

    def until(self, pred, timeout=10):
        """Events up to and including the first that pred accepts."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            ev = self.next(timeout=max(0.01, deadline - time.monotonic()))
            seen.append(ev)
            if pred(ev):
                return seen

    def close(self):
        """Close the connection as a browser closing the tab would."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self.conn.close()
        self.closed.wait(5)
