#!/usr/bin/env python3
"""A misbehaving DNS server on 127.0.0.1 (TCP) for tests/dns/deadlines.sh.

Usage: slow_server.py [--soa MODE] [--axfr MODE] [--update MODE]   (each MODE default: answer)

Prints the port it listens on (one line) once it accepts connections, then serves until killed.
Per request kind (SOA/other queries, AXFR, UPDATE) it behaves as MODE says:
  answer   a well-formed unsigned answer: the zone's SOA; a transfer of just the SOA; NOERROR
  silent   reads the request and never answers
  trickle  sends a length prefix announcing 512 octets, then one octet every 0.25 s, forever
  drip     (AXFR) a first message with the SOA, then one more message with one A record every
           0.25 s, forever: each message arrives quickly, the transfer never ends
Answers are never signed; the client under test is configured accordingly.
"""
import argparse
import socketserver
import struct
import sys
import threading
import time

PACE = 0.25
MODES = ("answer", "silent", "trickle", "drip")


def parse_request(msg):
    """(id, opcode, qtype, question bytes) of a DNS message."""
    rid = msg[0:2]
    opcode = (msg[2] >> 3) & 0xF
    i = 12
    while i < len(msg) and msg[i] != 0:
        i += 1 + msg[i]
    question = msg[12:i + 5]
    qtype = struct.unpack("!H", msg[i + 1:i + 3])[0] if i + 3 <= len(msg) else 0
    return rid, opcode, qtype, question


def reply(rid, opcode, question, answers):
    flags = struct.pack("!BB", 0x80 | (opcode << 3) | 0x04, 0)
    header = rid + flags + struct.pack("!HHHH", 1, len(answers), 0, 0)
    return header + question + b"".join(answers)


def soa_rr():
    # Owner: a pointer to the question name; MNAME ns.<zone>, RNAME h.<zone>.
    rdata = b"\x02ns\xc0\x0c" + b"\x01h\xc0\x0c" + struct.pack("!IIIII", 1, 3600, 600, 86400, 60)
    return b"\xc0\x0c" + struct.pack("!HHIH", 6, 1, 300, len(rdata)) + rdata


def a_rr(n):
    return b"\x01a\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + bytes([192, 0, 2, n % 250 + 1])


def framed(msg):
    return struct.pack("!H", len(msg)) + msg


class Handler(socketserver.BaseRequestHandler):
    def read_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def hold(self):
        while self.request.recv(4096):
            pass

    def handle(self):
        try:
            while True:
                head = self.read_exact(2)
                if head is None:
                    return
                msg = self.read_exact(struct.unpack("!H", head)[0])
                if msg is None:
                    return
                rid, opcode, qtype, question = parse_request(msg)
                kind = "update" if opcode == 5 else "axfr" if qtype == 252 else "soa"
                mode = self.server.modes[kind]
                if mode == "silent":
                    return self.hold()
                if mode == "trickle":
                    self.request.sendall(struct.pack("!H", 512))
                    while True:
                        self.request.sendall(b"\x00")
                        time.sleep(PACE)  # the fault under test: a server that trickles
                if kind == "axfr" and mode == "drip":
                    self.request.sendall(framed(reply(rid, opcode, question, [soa_rr()])))
                    n = 0
                    while True:
                        time.sleep(PACE)  # the fault under test: a transfer that never ends
                        n += 1
                        self.request.sendall(framed(reply(rid, opcode, question, [a_rr(n)])))
                if kind == "axfr":
                    answers = [soa_rr(), soa_rr()]
                elif kind == "soa":
                    answers = [soa_rr()]
                else:
                    answers = []
                self.request.sendall(framed(reply(rid, opcode, question, answers)))
        except OSError:
            return  # the client gave up: that is what the tests wait for


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser()
    for kind in ("soa", "axfr", "update"):
        ap.add_argument("--" + kind, choices=MODES, default="answer")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", 0), Handler)
    srv.modes = {"soa": args.soa, "axfr": args.axfr, "update": args.update}
    print(srv.server_address[1], flush=True)
    sys.stdout.close()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    threading.Event().wait()


if __name__ == "__main__":
    main()
