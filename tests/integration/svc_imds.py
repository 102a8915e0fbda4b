"""A stand-in for the EC2 instance metadata service (IMDSv2) on loopback,
for the tests of drnode's instance-role credentials: a session token from
PUT /latest/api/token, then the role name and its credentials, each GET
refused without that token (as IMDSv2 does). It counts what was asked.

    with Imds(akid, secret) as imds:
        env = {"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.endpoint}
"""

import datetime
import http.server
import json
import threading

TOKEN = "imds-session-token-for-tests"


class Imds:
    def __init__(self, akid, secret, token="role-session-token",
                 role="drnode-coordinator", expires_in_s=6 * 3600):
        self.akid, self.secret, self.token = akid, secret, token
        self.role = role            # None: no role attached (404)
        self.expires_in_s = expires_in_s
        self.calls = []             # (method, path, had a valid token)
        self.lock = threading.Lock()
        imds = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, body=b""):
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_PUT(self):
                ok = self.path == "/latest/api/token" and self.headers.get(
                    "X-aws-ec2-metadata-token-ttl-seconds")
                with imds.lock:
                    imds.calls.append(("PUT", self.path, bool(ok)))
                self.reply(200 if ok else 400, TOKEN.encode() if ok else b"")

            def do_GET(self):
                valid = self.headers.get("X-aws-ec2-metadata-token") == TOKEN
                with imds.lock:
                    imds.calls.append(("GET", self.path, valid))
                if not valid:
                    return self.reply(401)
                base = "/latest/meta-data/iam/security-credentials/"
                if self.path == base:
                    if imds.role is None:
                        return self.reply(404)
                    return self.reply(200, imds.role.encode())
                if imds.role is not None and self.path == base + imds.role:
                    exp = (datetime.datetime.now(datetime.timezone.utc) +
                           datetime.timedelta(seconds=imds.expires_in_s))
                    body = {"Code": "Success", "Type": "AWS-HMAC",
                            "AccessKeyId": imds.akid,
                            "SecretAccessKey": imds.secret,
                            "Token": imds.token,
                            "Expiration": exp.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "LastUpdated": "2026-01-01T00:00:00Z"}
                    return self.reply(200, json.dumps(body).encode())
                self.reply(404)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                      Handler)
        self.endpoint = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)

    def creds_fetches(self):
        with self.lock:
            return sum(1 for m, p, v in self.calls
                       if m == "GET" and v and p.endswith("/" + self.role))

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
