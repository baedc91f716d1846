#!/usr/bin/env python3
"""A loopback TCP listener for the hostile-server tests: accepts every connection, never sends
a byte, and appends whatever it receives to a log (so a test can prove that nothing, or no bind,
was sent).

    listener.py LOG_FILE

Listens on 127.0.0.1 on a free port, prints the port on stdout once it listens, and serves
until killed.
"""
import selectors
import socket
import sys


def main():
    log_file = sys.argv[1]
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    open(log_file, "wb").close()
    print(srv.getsockname()[1], flush=True)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    while True:
        for key, _ in sel.select():
            if key.fileobj is srv:
                conn, _ = srv.accept()
                sel.register(conn, selectors.EVENT_READ)
                continue
            data = key.fileobj.recv(65536)
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                continue
            with open(log_file, "ab") as f:
                f.write(data)


if __name__ == "__main__":
    main()
