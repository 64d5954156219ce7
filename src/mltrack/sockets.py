"""The listening sockets of mltrack's two servers: bound here, or inherited from a parent."""

from __future__ import annotations

import socket

from mltrack.exceptions import InvalidParameterValue

__all__ = ["adopt", "bind"]


def bind(host: str, port: int) -> socket.socket:
    """A TCP socket bound to host:port (not yet listening); a clear error if it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it every response waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise InvalidParameterValue(
            f"Cannot listen on {host}:{port}: {error.strerror or error}. "
            "Choose another port with -p (or another host with -h)."
        ) from None
    sock.set_inheritable(True)
    return sock


def adopt(fd: int) -> socket.socket:
    """The already bound socket a parent process passed as file descriptor ``fd``."""
    try:
        sock = socket.socket(fileno=fd)
    except OSError as error:
        raise InvalidParameterValue(
            f"Cannot listen on file descriptor {fd}: {error.strerror or error}."
        ) from None
    sock.set_inheritable(True)
    return sock
