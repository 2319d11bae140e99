#!/usr/bin/env python3
"""Bitville listener for pgagent tests (python3 standard library + the openssl CLI).

Implements the listener contract of issue 2 on 127.0.0.1:

  POST <any path ending in /ingest/postgres>
    1. failure injection (control API) applies first: status / delay / reset / hang
    2. rate limit: LIMIT requests per fixed WINDOW seconds (default 100 per 60 s) per client
       IP, counted BEFORE authentication; over the limit -> 429 + Retry-After (integer
       seconds until the client's window ends, at least 1)
    3. `Authorization: Bearer <key>` (case-sensitive "Bearer", exactly one space), key known
       -> else 401
    4. `Content-Type: application/json` (parameters such as charset allowed) -> else 400.
       This listener is STRICT here because the contract names the header.
    5. body: UTF-8 JSON object (a gzip body is invalid JSON; NaN/Infinity rejected) with
       project (string, 1..50 chars), timestamp (number, not bool, finite),
       source in {pg_stat_activity, pg_stat_statements, pg_log, system_metrics},
       data (object), correlation_id (optional; when present a string, never null)
       -> else 400. Other top-level keys are silently dropped.
       Numbers are read as the production listener (JavaScript, JSON.parse) reads them: as
       doubles. An integer beyond 2^53 is rounded as JavaScript would and counted in
       stats "unsafe_integers" (a 64-bit id sent as a number arrives wrong: tests assert 0).
    5b. with --max-stored-bytes N: while the stored bodies add up to N bytes or more, 503 +
       Retry-After: 1 (backpressure, as a busy listener answers) until the harness fetches and
       clears them; bounds this process's memory under a fast backlog drain
    6. stored with the project DERIVED FROM THE API KEY -> 200
       {"success":true,"row_id":N,"source":"..."}
  GET /api/correlation/<uuid>  (Bearer auth, not rate-limited) -> 200 {"correlation_id",
       "count", "rows": [stored rows whose TOP-LEVEL correlation_id is <uuid>]}: the
       listener's correlation view, which links a PHP request to database rows only by the
       top-level id.
  GET /health -> 200 "OK";  GET /ready -> 200 {"status":"ready"} or 503 when made not ready.
  Anything else -> 404 (405 for a non-POST on an ingest path).

Control API: plain HTTP on 127.0.0.1:<control port>, JSON in and out:
  POST /control/fail            {"mode":"status|delay|reset|hang","count":N (-1 = until
                                 cleared),"status":S,"seconds":F,"retry_after":F (-1 none),
                                 "match":"text" (optional: only requests whose body contains
                                 it; others pass untouched)}
  POST /control/clear-failures  drops pending failures and releases hung requests
  POST /control/rate-limit      {"limit":N (0 = off),"window_seconds":F (optional)}
  POST /control/reset-rate-window
  POST /control/ready           {"ready":true|false}
  POST /control/api-key         {"api_key":"...","project":"..."}  (adds a key)
  POST /control/clear-stored    drops stored rows; {"through_row_id":N} drops only rows with
                                 row_id <= N (a harness drains what it fetched while ingest
                                 goes on, without holding requests)
  POST /control/reset           stored rows, stats, failures, rate windows, readiness
  GET  /control/stored          JSON array of rows {row_id, project, body_project, source,
                                 correlation_id, timestamp, data, received_at}
  GET  /control/stored-count    {"count":N}
  GET  /control/stats           {"requests":N,"status":{"200":N,...},"reset":N,"hang":N,
                                 "delayed":N,"tls_errors":N,"connections":N,"probes":N,
                                 "unsafe_integers":N,"max_window_requests":N,
                                 "pg_log_entries":N}
                                 (requests/status count ingest requests only;
                                 max_window_requests: the most requests one client IP made
                                 in one fixed window, refused ones included;
                                 pg_log_entries: data.count summed over stored pg_log
                                 aggregates, i.e. log entries without correlation rows)
  GET  /control/count?status=S  {"count":N} for one HTTP status
  GET  /control/correlation-count?id=U  {"count":N} rows the correlation view returns for U

Start-up: certificates are generated in --dir (ca.pem, server.pem/.key, wrong-ca.pem: an
unrelated CA), then one JSON line {"port":..,"control_port":..,"ca_file":..,
"wrong_ca_file":..,"pid":..} is printed on stdout and written to --ready-file.
With --exit-on-stdin-eof the process removes --dir and exits when its stdin closes (the
test process finished or died).
"""

import argparse
import json
import math
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

SOURCES = ("pg_stat_activity", "pg_stat_statements", "pg_log", "system_metrics")
MAX_BODY = 64 * 1024 * 1024
HANG_MAX_SECONDS = 600.0


def openssl(*args):
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (args[0], result.stderr.strip()))


def make_ca(directory, name, common_name):
    openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", os.path.join(directory, name + ".key"),
            "-out", os.path.join(directory, name + ".pem"), "-days", "30",
            "-subj", "/CN=" + common_name,
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_certificates(directory):
    """CA + server certificate (127.0.0.1 / localhost) + an unrelated second CA."""
    make_ca(directory, "ca", "pgagent test CA")
    make_ca(directory, "wrong-ca", "pgagent unrelated test CA")
    key = os.path.join(directory, "server.key")
    csr = os.path.join(directory, "server.csr")
    ext = os.path.join(directory, "server.ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                "basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", key, "-out", csr, "-subj", "/CN=localhost")
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(directory, "ca.pem"),
            "-CAkey", os.path.join(directory, "ca.key"), "-CAcreateserial",
            "-out", os.path.join(directory, "server.pem"), "-days", "30", "-extfile", ext)


class State:
    """Everything the handlers share; one lock guards it all."""

    def __init__(self, keys, limit, window, max_stored_bytes=0):
        self.lock = threading.Lock()
        # Backpressure: while the stored bodies add up to this many bytes (0: no bound),
        # ingest answers 503 + Retry-After: 1 until the rows are fetched and cleared.
        self.max_stored_bytes = max_stored_bytes
        self.stored_bytes = 0
        self.keys = dict(keys)
        self.initial_keys = dict(keys)
        self.limit = limit
        self.window = window
        self.initial_limit = (limit, window)
        self.windows = {}  # client ip -> [window start (monotonic), count]
        self.failures = []  # pending failure specs, consumed in order
        self.release = threading.Event()  # set: hung requests give up
        self.ready = True
        self.rows = []
        self.next_row_id = 1
        self.reset_stats()

    def reset_stats(self):
        self.stats = {"requests": 0, "status": {}, "reset": 0, "hang": 0, "delayed": 0,
                      "tls_errors": 0, "connections": 0, "probes": 0, "full": 0,
                      "unsafe_integers": 0, "max_window_requests": 0,
                      "pg_log_entries": 0}

    def count(self, key, by=1):
        with self.lock:
            self.stats[key] += by

    def count_status(self, status):
        with self.lock:
            bucket = self.stats["status"]
            bucket[str(status)] = bucket.get(str(status), 0) + 1

    def take_failure(self, body=b""):
        """The first pending failure that applies to this request (consumed), or None."""
        with self.lock:
            for i, spec in enumerate(self.failures):
                if spec.get("match") and spec["match"].encode() not in body:
                    continue  # aimed at other requests
                if spec["count"] > 0:
                    spec["count"] -= 1
                    if spec["count"] == 0:
                        self.failures.pop(i)
                return dict(spec)
            return None

    def rate_check(self, ip):
        """None when allowed, else the Retry-After seconds."""
        with self.lock:
            if self.limit <= 0:
                return None
            now = time.monotonic()
            entry = self.windows.get(ip)
            if entry is None or now - entry[0] >= self.window:
                entry = [now, 0]
                self.windows[ip] = entry
            entry[1] += 1
            self.stats["max_window_requests"] = max(self.stats["max_window_requests"], entry[1])
            if entry[1] <= self.limit:
                return None
            return max(1, int(math.ceil(entry[0] + self.window - now)))

    def full(self):
        with self.lock:
            return 0 < self.max_stored_bytes <= self.stored_bytes

    def store(self, project, body, size):
        with self.lock:
            self.stored_bytes += size
            count = body["data"].get("count")
            if body["source"] == "pg_log" and body.get("correlation_id") is None and \
                    isinstance(count, int):
                self.stats["pg_log_entries"] += count  # aggregates only: benches count lines
            row_id = self.next_row_id
            self.next_row_id += 1
            self.rows.append({
                "row_id": row_id,
                "project": project,
                "body_project": body["project"],
                "source": body["source"],
                "correlation_id": body.get("correlation_id"),
                "timestamp": body["timestamp"],
                "data": body["data"],
                "received_at": time.time(),
                "size": size,
            })
            return row_id


def reject_constant(name):
    raise ValueError("invalid JSON constant " + name)


JS_SAFE_INTEGER = 2 ** 53


def js_number_parser(counter):
    """parse_int for json.loads: integers as JavaScript's JSON.parse yields them (doubles).

    Exact up to 2^53 (kept as int: the same value); beyond it rounded to the nearest double,
    as JSON.parse does, and counted."""
    def parse_int(text):
        value = int(text)
        if -JS_SAFE_INTEGER <= value <= JS_SAFE_INTEGER:
            return value
        counter[0] += 1
        return float(value)
    return parse_int


def validate(body):
    """An error message, or None when the envelope satisfies the contract."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    project = body.get("project")
    if not isinstance(project, str) or not 1 <= len(project) <= 50:
        return "project must be a string of 1..50 characters"
    ts = body.get("timestamp")
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or not math.isfinite(ts):
        return "timestamp must be a number"
    if body.get("source") not in SOURCES:
        return "source must be one of " + ", ".join(SOURCES)
    if not isinstance(body.get("data"), dict):
        return "data must be a JSON object"
    if "correlation_id" in body and not isinstance(body["correlation_id"], str):
        return "correlation_id must be a string when present"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one small response per request: no Nagle delay
    timeout = 300  # idle keep-alive connections are closed after this

    def version_string(self):
        return "bitville-test-listener"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    # --- plumbing -------------------------------------------------------------------------

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            total = 0
            while True:
                size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def send(self, status, payload, content_type="application/json", headers=()):
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def abort_connection(self):
        """Closes the socket without a response; linger 0 makes it a TCP reset."""
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close_connection = True
        self.connection.close()

    # --- routes ---------------------------------------------------------------------------

    def correlation_view(self, state, uuid):
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        with state.lock:
            project = state.keys.get(token) if scheme == "Bearer" else None
            if project is None:
                return self.send(401, {"success": False, "error": "missing or invalid API key"})
            rows = [r for r in state.rows
                    if r["project"] == project and r["correlation_id"] == uuid]
        self.send(200, {"correlation_id": uuid, "count": len(rows), "rows": rows})

    def do_GET(self):
        path = urlsplit(self.path).path
        state = self.server.state
        if path.startswith("/api/correlation/"):
            self.correlation_view(state, path[len("/api/correlation/"):])
        elif path == "/health":
            state.count("probes")
            self.send(200, b"OK", "text/plain")
        elif path == "/ready":
            state.count("probes")
            if state.ready:
                self.send(200, {"status": "ready"})
            else:
                self.send(503, {"status": "not ready"})
        elif path.endswith("/ingest/postgres"):
            self.send(405, {"success": False, "error": "method not allowed"},
                      headers=[("Allow", "POST")])
        else:
            self.send(404, {"success": False, "error": "not found"})

    def do_POST(self):
        try:
            body = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            self.send(400, {"success": False, "error": "unreadable body"})
            return
        if not urlsplit(self.path).path.endswith("/ingest/postgres"):
            self.send(404, {"success": False, "error": "not found"})
            return
        state = self.server.state
        state.count("requests")
        if self.inject_failure(state, body):
            return
        status, payload, headers = self.ingest(state, body)
        state.count_status(status)
        self.send(status, payload, headers=headers)

    def inject_failure(self, state, body=b""):
        """True when an injected failure has fully handled the request."""
        spec = state.take_failure(body)
        if spec is None:
            return False
        mode = spec["mode"]
        if mode == "delay":
            state.count("delayed")
            time.sleep(spec["seconds"])
            return False
        if mode == "status":
            headers = []
            if spec["retry_after"] >= 0:
                headers.append(("Retry-After", str(int(math.ceil(spec["retry_after"])))))
            state.count_status(spec["status"])
            self.send(spec["status"], {"success": False, "error": "injected failure"},
                      headers=headers)
            return True
        if mode == "hang":
            state.count("hang")
            limit = spec["seconds"] if spec["seconds"] > 0 else HANG_MAX_SECONDS
            state.release.wait(limit)
        else:
            state.count("reset")
        self.abort_connection()
        return True

    def ingest(self, state, raw):
        """(status, payload, headers) for one ingest request after failure injection."""
        retry_after = state.rate_check(self.client_address[0])
        if retry_after is not None:
            return 429, {"success": False, "error": "rate limit exceeded"}, [
                ("Retry-After", str(retry_after))]
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        with state.lock:
            project = state.keys.get(token) if scheme == "Bearer" else None
        if project is None:
            return 401, {"success": False, "error": "missing or invalid API key"}, []
        media_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if media_type != "application/json":
            return 400, {"success": False, "error": "Content-Type must be application/json"}, []
        if state.full():
            state.count("full")
            return 503, {"success": False, "error": "busy: stored rows not fetched yet"}, [
                ("Retry-After", "1")]
        unsafe = [0]
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=reject_constant,
                              parse_int=js_number_parser(unsafe))
        except (UnicodeDecodeError, ValueError, RecursionError):
            return 400, {"success": False, "error": "invalid JSON"}, []
        if unsafe[0]:
            state.count("unsafe_integers", unsafe[0])
        error = validate(body)
        if error is not None:
            return 400, {"success": False, "error": "validation failed: " + error}, []
        row_id = state.store(project, body, len(raw))
        return 200, {"success": True, "row_id": row_id, "source": body["source"]}, []


class IngestServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address, state, ssl_context, verbose):
        self.state = state
        self.ssl_context = ssl_context
        self.verbose = verbose
        super().__init__(address, Handler)

    def finish_request(self, request, client_address):
        # Runs in the per-connection thread, so a slow or failing TLS handshake never
        # blocks the accept loop.
        self.state.count("connections")
        if self.ssl_context is None:
            self.RequestHandlerClass(request, client_address, self)
            return
        request.settimeout(30)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            self.state.count("tls_errors")
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


class ControlHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("control: %s\n" % (fmt % args))

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        state = self.server.state
        url = urlsplit(self.path)
        with state.lock:
            if url.path == "/control/stored":
                payload = list(state.rows)
            elif url.path == "/control/stored-count":
                payload = {"count": len(state.rows)}
            elif url.path == "/control/stats":
                payload = json.loads(json.dumps(state.stats))
            elif url.path == "/control/correlation-count":
                uuid = parse_qs(url.query).get("id", [""])[0]
                payload = {"count": sum(1 for r in state.rows if r["correlation_id"] == uuid)}
            elif url.path == "/control/count":
                status = parse_qs(url.query).get("status", [""])[0]
                payload = {"count": state.stats["status"].get(status, 0)}
            else:
                return self.reply(404, {"error": "unknown control path"})
        self.reply(200, payload)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            error = self.apply(urlsplit(self.path).path, body)
        except (ValueError, KeyError, TypeError) as e:
            error = "bad control request: %s" % e
        if error:
            self.reply(400, {"error": error})
        else:
            self.reply(200, {"ok": True})

    def apply(self, path, body):
        state = self.server.state
        with state.lock:
            if path == "/control/fail":
                mode = body["mode"]
                if mode not in ("status", "delay", "reset", "hang"):
                    return "unknown mode " + str(mode)
                count = int(body.get("count", 1))
                if count == 0 or count < -1:
                    return "count must be positive or -1"
                state.release.clear()
                state.failures.append({
                    "mode": mode, "count": count, "status": int(body.get("status", 500)),
                    "seconds": float(body.get("seconds", 0)),
                    "retry_after": float(body.get("retry_after", -1)),
                    "match": str(body.get("match", ""))})
            elif path == "/control/clear-failures":
                state.failures.clear()
                state.release.set()
            elif path == "/control/rate-limit":
                state.limit = int(body["limit"])
                state.window = float(body.get("window_seconds", state.window))
                if state.window <= 0:
                    return "window_seconds must be positive"
                state.windows.clear()
            elif path == "/control/reset-rate-window":
                state.windows.clear()
            elif path == "/control/ready":
                state.ready = bool(body["ready"])
            elif path == "/control/api-key":
                key, project = body["api_key"], body["project"]
                if not isinstance(key, str) or not key or not isinstance(project, str):
                    return "api_key and project must be strings"
                state.keys[key] = project
            elif path == "/control/clear-stored":
                through = body.get("through_row_id")
                if through is None:
                    state.rows.clear()
                    state.stored_bytes = 0
                else:
                    kept = [r for r in state.rows if r["row_id"] > int(through)]
                    state.stored_bytes = sum(r.get("size", 0) for r in kept)
                    state.rows = kept
            elif path == "/control/reset":
                state.rows.clear()
                state.stored_bytes = 0
                state.failures.clear()
                state.release.set()
                state.windows.clear()
                state.ready = True
                state.limit, state.window = state.initial_limit
                state.keys = dict(state.initial_keys)
                state.reset_stats()
            else:
                return "unknown control path " + path
        return None


class ControlServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, state, verbose):
        self.state = state
        self.verbose = verbose
        super().__init__(address, ControlHandler)


def write_ready(path, info):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(info, f)
    os.rename(tmp, path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, help="directory for certificates")
    parser.add_argument("--port", type=int, default=0, help="HTTPS port (0: a free one)")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--api-key", default="test-api-key")
    parser.add_argument("--project", default="test-project")
    parser.add_argument("--rate-limit", type=int, default=100, help="per window; 0: off")
    parser.add_argument("--window-seconds", type=float, default=60.0)
    parser.add_argument("--plain-http", action="store_true")
    parser.add_argument("--max-stored-bytes", type=int, default=0,
                        help="503 + Retry-After: 1 while stored bodies exceed this; 0: no bound")
    parser.add_argument("--ready-file")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    ssl_context = None
    if not args.plain_http:
        make_certificates(args.dir)
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(os.path.join(args.dir, "server.pem"),
                                    os.path.join(args.dir, "server.key"))
    state = State({args.api_key: args.project}, args.rate_limit, args.window_seconds,
                  args.max_stored_bytes)
    ingest = IngestServer(("127.0.0.1", args.port), state, ssl_context, args.verbose)
    control = ControlServer(("127.0.0.1", args.control_port), state, args.verbose)
    for server in (ingest, control):
        threading.Thread(target=server.serve_forever, daemon=True).start()

    info = {"port": ingest.server_address[1], "control_port": control.server_address[1],
            "ca_file": os.path.join(args.dir, "ca.pem") if ssl_context else "",
            "wrong_ca_file": os.path.join(args.dir, "wrong-ca.pem") if ssl_context else "",
            "pid": os.getpid()}
    print(json.dumps(info), flush=True)
    if args.ready_file:
        write_ready(args.ready_file, info)
    try:
        if args.exit_on_stdin_eof:
            while sys.stdin.buffer.read(65536):
                pass
            # The test process is gone (or done with us): nobody else removes the dir.
            shutil.rmtree(args.dir, ignore_errors=True)
        else:
            threading.Event().wait()
    except KeyboardInterrupt:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
