"""A TCP forwarder the tests can cut and restore, to play a broker going down and coming back.

`stop()` plays a server refusing connections (open ones cut); `hang()` one that accepts and
reads but never answers (a SIGSTOPped Redis, a hung PostgreSQL), until `restore()`.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time


class TcpProxy:
    def __init__(self, target_port: int, *, delay: float = 0.0) -> None:
        self.target = ("127.0.0.1", target_port)
        self.delay = delay
        self.port = 0
        self._listener: socket.socket | None = None
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self.traffic = threading.Event()  # set once a client has sent anything
        self.hung = threading.Event()  # set: nothing is forwarded either way

    def hang(self) -> None:
        self.hung.set()

    def restore(self) -> None:
        self.hung.clear()

    def start(self) -> TcpProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        """Refuse new connections and cut the open ones."""
        with self._lock:
            listener, self._listener = self._listener, None
            connections, self._connections = self._connections, []
        if listener is not None:
            # shutdown() wakes the accept() blocked on it (close() alone does not, on Linux:
            # that accept would still take one more connection).
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            if self._listener is not listener:  # stopped meanwhile
                client.close()
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    def _pipe(self, client: socket.socket, upstream: socket.socket) -> None:
        peers = {client: upstream, upstream: client}
        try:
            while True:
                if self.hung.is_set():  # hold the bytes: the peer waits on its own timeout
                    time.sleep(0.05)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.2)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    if source is client:
                        self.traffic.set()
                        time.sleep(self.delay)
                    peers[source].sendall(data)
        except (OSError, ValueError):
            return
        finally:
            for sock in peers:
                sock.close()
