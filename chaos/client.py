"""HTTP client of the chaos workload: redirects, outcomes, source address.

call() sends one API request, follows 307 redirects to the leader (a 307
means the node did not propose anything) and classifies the result as the
history needs it:
  ok       2xx
  fail     the request certainly had no effect: connection refused before
           sending, 4xx, 503 with Retry-After (nothing was proposed)
  unknown  the outcome is not known: a timeout or a reset after the request
           was sent, 503 without Retry-After, 504, any other 5xx
"""

import http.client
import json
import socket

MAX_REDIRECTS = 4


class Outcome:
    def __init__(self, kind, status=None, body=None, error=None):
        self.kind = kind      # "ok", "fail" or "unknown"
        self.status = status  # HTTP status of the last answer, or None
        self.body = body      # decoded JSON of the last answer, or None
        self.error = error    # short text for fail/unknown

    def __repr__(self):
        return "<%s %s %s>" % (self.kind, self.status, self.error or "")


def _classify(status, headers, body):
    if 200 <= status < 300:
        return Outcome("ok", status, body)
    err = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = "%s: %s" % (body["error"].get("code"),
                          body["error"].get("message"))
    if 400 <= status < 500:
        return Outcome("fail", status, body, err)
    if status == 503 and headers.get("retry-after") is not None:
        return Outcome("fail", status, body, err or "no leader")
    return Outcome("unknown", status, body, err or "status %d" % status)


def call(addr, method, path, body=None, token=None, timeout=5.0,
         source_ip=None):
    """One logical API call starting at node addr ("ip:port")."""
    data = None if body is None else json.dumps(body).encode()
    for _ in range(MAX_REDIRECTS + 1):
        host, port = addr.rsplit(":", 1)
        conn = http.client.HTTPConnection(
            host, int(port), timeout=timeout,
            source_address=(source_ip, 0) if source_ip else None)
        hdrs = {}
        if data is not None:
            hdrs["Content-Type"] = "application/json"
        if token:
            hdrs["Authorization"] = "Bearer " + token
        try:
            try:
                conn.connect()
            except OSError as e:
                return Outcome("fail", error="connect %s: %s" % (addr, e))
            try:
                conn.request(method, path, body=data, headers=hdrs)
                r = conn.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException) as e:
                kind = "unknown" if method != "GET" else "fail"
                return Outcome(kind, error="%s: %s" % (
                    addr, e.__class__.__name__ if isinstance(
                        e, socket.timeout) else e))
            headers = {k.lower(): v for k, v in r.getheaders()}
            try:
                j = json.loads(raw.decode()) if raw else None
            except (ValueError, UnicodeDecodeError):
                j = None
            if r.status == 307 and headers.get("location"):
                loc = headers["location"]
                if not loc.startswith("http://"):
                    return Outcome("fail", r.status, j,
                                   "bad Location %r" % loc)
                rest = loc[len("http://"):]
                addr, _, p = rest.partition("/")
                path = "/" + p
                continue
            out = _classify(r.status, headers, j)
            if method == "GET" and out.kind == "unknown":
                out.kind = "fail"  # a read has no effect either way
            return out
        finally:
            conn.close()
    return Outcome("fail", error="too many redirects")
