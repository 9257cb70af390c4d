"""A TCP proxy on loopback that can drop or stall connections, to play a network that fails mid-transfer.

Put between the client and the S3 server: ``AWS_ENDPOINT_URL`` names the proxy. ``cut_after(n)`` lets ``n`` bytes of
the next responses through, then closes every connection and stops listening (the server went away mid-download);
``stall_after(n)`` keeps the connections open but stops sending (a hung server: only a read timeout notices);
``slow_uploads(rate)`` passes what the client sends at ``rate`` bytes per second (a slow uplink, so a test can
stop a job in the middle of an upload).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class FaultProxy:
    """Forward 127.0.0.1:<port> to ``upstream``; count the bytes going back to the client."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._budget: int | None = None  # bytes still allowed back to clients; None: unlimited
        self._stall = False
        self._closed = False
        self._upload_rate: float | None = None
        self.sent = 0
        self.received = 0
        self.tripped = threading.Event()
        self._stopped = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut_after(self, budget: int) -> None:
        """After ``budget`` more bytes to clients: close everything and refuse new connections."""
        with self._lock:
            self._budget, self._stall = budget, False

    def stall_after(self, budget: int) -> None:
        """After ``budget`` more bytes to clients: stop forwarding, keep the connections open."""
        with self._lock:
            self._budget, self._stall = budget, True

    def slow_uploads(self, rate: float) -> None:
        """Forward the client's bytes to the server at ``rate`` bytes per second."""
        with self._lock:
            self._upload_rate = rate

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._stopped.set()
            sockets, self._sockets = self._sockets, []
        for sock in [self._listener, *sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._closed:
                    client.close()
                    server.close()
                    return
                self._sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, to_client: bool) -> None:
        try:
            while data := src.recv(65536):
                if to_client:
                    with self._lock:
                        if self._budget is not None:
                            if len(data) > self._budget:
                                data = data[:self._budget]
                            self._budget -= len(data)
                        trip = self._budget == 0
                        self.sent += len(data)
                    if data:
                        dst.sendall(data)
                    if trip:
                        self.tripped.set()
                        if self._stall:
                            self._stopped.wait(600)  # hold the connection open, send nothing
                        self.close()
                        return
                else:
                    with self._lock:
                        self.received += len(data)
                        rate = self._upload_rate
                    for start in range(0, len(data), 8192):
                        if rate:
                            time.sleep(min(8192, len(data) - start) / rate)
                        dst.sendall(data[start:start + 8192])
        except OSError:
            pass
        finally:
            if not (to_client and self._stall and self.tripped.is_set()):
                for sock in (src, dst):
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
