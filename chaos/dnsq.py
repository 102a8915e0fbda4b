"""One DNS question over UDP, for the chaos run's DNS sampler: the A or TXT
answers of a name from one authoritative server. Stdlib only."""

import random
import socket
import struct

TYPES = {"A": 1, "TXT": 16}


def _qname(name):
    out = b""
    for label in name.rstrip(".").split("."):
        b = label.encode()
        if not 0 < len(b) < 64:
            raise ValueError("bad label in %r" % name)
        out += bytes([len(b)]) + b
    return out + b"\0"


def _skip_name(msg, off):
    while True:
        n = msg[off]
        if n == 0:
            return off + 1
        if n & 0xC0 == 0xC0:
            return off + 2
        off += 1 + n


def query(server, port, name, rtype, timeout=1.0, source=None):
    """Sorted answers for name: dotted quads for A, each TXT record's
    strings joined. OSError on no answer in time, ValueError on an answer
    that is malformed, truncated or an error other than NXDOMAIN."""
    qtype = TYPES[rtype]
    qid = random.getrandbits(16)
    q = struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + _qname(name) + \
        struct.pack(">HH", qtype, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        if source:
            s.bind((source, 0))
        s.sendto(q, (server, port))
        while True:
            msg, _ = s.recvfrom(4096)
            if len(msg) >= 12 and struct.unpack(">H", msg[:2])[0] == qid:
                break
    finally:
        s.close()
    try:
        return _answers(msg, qtype)
    except (IndexError, struct.error) as e:
        raise ValueError("malformed answer: %s" % e)


def _answers(msg, qtype):
    _, flags, qd, an, _, _ = struct.unpack(">HHHHHH", msg[:12])
    if flags & 0x0200:
        raise ValueError("truncated answer")
    rcode = flags & 0xF
    if rcode not in (0, 3):
        raise ValueError("rcode %d" % rcode)
    off = 12
    for _ in range(qd):
        off = _skip_name(msg, off) + 4
    out = []
    for _ in range(an):
        off = _skip_name(msg, off)
        t, _, _, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
        off += 10
        rd = msg[off:off + rdlen]
        off += rdlen
        if t != qtype:
            continue
        if t == 1:
            out.append(socket.inet_ntoa(rd))
        else:
            parts, i = [], 0
            while i < len(rd):
                n = rd[i]
                parts.append(rd[i + 1:i + 1 + n].decode(errors="replace"))
                i += 1 + n
            out.append("".join(parts))
    return sorted(out)
