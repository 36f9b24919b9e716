#!/usr/bin/env python3
"""A loopback HTTPS file server for the node e2e's https:// volume source.

usage: https_server.py DIR CERT KEY PORTFILE LOG

Serves the regular files directly in DIR (no subdirectories) on 127.0.0.1, on a port the kernel
picks, which it writes to PORTFILE once it listens. GET and HEAD, with single byte ranges
(`Range: bytes=A-B`, `bytes=A-`, `bytes=-N`) answered 206, so a client that fetches an image in
pieces works as well as one that downloads it whole. One line per request goes to LOG.
"""
import http.server
import os
import re
import ssl
import sys
import threading

DIR, CERT, KEY, PORTFILE, LOG = sys.argv[1:6]
log_lock = threading.Lock()


def log(line):
    with log_lock, open(LOG, "a") as f:
        f.write(line + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_HEAD(self):
        self.serve(body=False)

    def do_GET(self):
        self.serve(body=True)

    def serve(self, body):
        name = self.path.split("?", 1)[0].lstrip("/")
        path = os.path.join(DIR, name)
        if not name or "/" in name or name.startswith(".") or not os.path.isfile(path):
            return self.answer(404, b"not found\n", body)
        size = os.path.getsize(path)
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng:
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (not m.group(1) and not m.group(2)):
                return self.answer(416, b"only single byte ranges are served\n", body, {"Content-Range": f"bytes */{size}"})
            if m.group(1):
                start = int(m.group(1))
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
            else:
                start, end = max(0, size - int(m.group(2))), size - 1
            if start >= size or start > end:
                return self.answer(416, b"range not satisfiable\n", body, {"Content-Range": f"bytes */{size}"})
            status = 206
        headers = {"Content-Type": "application/octet-stream", "Accept-Ranges": "bytes"}
        if status == 206:
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        if body:
            with open(path, "rb") as f:
                f.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = f.read(min(left, 1 << 20))
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                    left -= len(chunk)

    def answer(self, status, text, body, headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        if body:
            self.wfile.write(text)

    def log_request(self, code="-", size="-"):
        log(f"{self.command} {self.path} range={self.headers.get('Range', '-')} -> {code}")

    def log_message(self, fmt, *args):  # errors go to the same log
        log("server: " + (fmt % args))


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, tls):
        super().__init__(("127.0.0.1", 0), Handler)
        self.tls = tls

    def finish_request(self, request, client_address):
        # the TLS handshake in the connection's own thread: a client that stalls or fails it holds
        # up nobody else
        request.settimeout(30)
        try:
            request = self.tls.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log(f"server: TLS handshake with {client_address[0]} failed: {e}")
            return
        super().finish_request(request, client_address)


def main():
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(CERT, KEY)
    server = Server(tls)
    tmp = PORTFILE + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, PORTFILE)
    server.serve_forever()


if __name__ == "__main__":
    main()
