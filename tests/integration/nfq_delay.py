"""Hold every packet of an NFQUEUE queue for a fixed delay, then accept it:
netem's `delay` for kernels built without the netem qdisc (this machine's).

    python3 nfq_delay.py QUEUE DELAY_MS LIFETIME_S

Run it in the network namespace whose iptables rules send packets to QUEUE
(`-j NFQUEUE --queue-num QUEUE`). It speaks nfnetlink_queue directly (no
library: linux/netfilter/nfnetlink_queue.h), asks for the packets' metadata
only, and gives each its verdict (NF_ACCEPT) DELAY_MS after it arrived, in
arrival order. It prints "ready" once bound, and exits after LIFETIME_S.
"""

import heapq
import select
import socket
import struct
import sys
import time

NETLINK_NETFILTER = 12
NFNL_SUBSYS_QUEUE = 3
NFQNL_MSG_PACKET, NFQNL_MSG_VERDICT, NFQNL_MSG_CONFIG = 0, 1, 2
NFQA_CFG_CMD, NFQA_CFG_PARAMS = 1, 2
NFQNL_CFG_CMD_BIND = 1
NFQNL_COPY_META = 1
NFQA_PACKET_HDR, NFQA_VERDICT_HDR = 1, 2
NLM_F_REQUEST, NLM_F_ACK = 1, 4
NLMSG_ERROR = 2
NF_ACCEPT = 1


def attr(kind, payload):
    size = 4 + len(payload)
    return struct.pack("=HH", size, kind) + payload + b"\0" * ((4 - size % 4) % 4)


def message(kind, queue, attrs, flags=NLM_F_REQUEST, family=socket.AF_UNSPEC):
    body = struct.pack("=BBH", family, 0, socket.htons(queue)) + b"".join(attrs)
    return struct.pack("=IHHII", 16 + len(body), (NFNL_SUBSYS_QUEUE << 8) | kind, flags, 0, 0) + body


def request(sock, kind, queue, attrs):
    sock.send(message(kind, queue, attrs, NLM_F_REQUEST | NLM_F_ACK))
    data = sock.recv(65536)
    _, mtype, _, _, _ = struct.unpack_from("=IHHII", data)
    if mtype == NLMSG_ERROR:
        (err,) = struct.unpack_from("=i", data, 16)
        if err != 0:
            raise OSError(-err, "nfqueue config refused")


def packet_ids(data):
    """The packet ids of the queue's messages in one netlink read."""
    off = 0
    while off + 16 <= len(data):
        length, mtype, _, _, _ = struct.unpack_from("=IHHII", data, off)
        if length < 16:
            break
        if mtype == (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
            a = off + 20
            while a + 4 <= off + length:
                alen, akind = struct.unpack_from("=HH", data, a)
                if alen < 4:
                    break
                if (akind & 0x7FFF) == NFQA_PACKET_HDR:
                    yield struct.unpack_from("!I", data, a + 4)[0]
                a += (alen + 3) & ~3
        off += (length + 3) & ~3


def main():
    queue, delay_s, lifetime_s = int(sys.argv[1]), float(sys.argv[2]) / 1000, float(sys.argv[3])
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    request(sock, NFQNL_MSG_CONFIG, queue,
            [attr(NFQA_CFG_CMD, struct.pack("!BBH", NFQNL_CFG_CMD_BIND, 0, socket.AF_INET))])
    request(sock, NFQNL_MSG_CONFIG, queue,
            [attr(NFQA_CFG_PARAMS, struct.pack("!IB", 0, NFQNL_COPY_META))])
    print("ready", flush=True)
    held = []  # (due, seq, packet id)
    seq = 0
    end = time.monotonic() + lifetime_s
    while time.monotonic() < end:
        now = time.monotonic()
        while held and held[0][0] <= now:
            _, _, pid = heapq.heappop(held)
            sock.send(message(NFQNL_MSG_VERDICT, queue,
                              [attr(NFQA_VERDICT_HDR, struct.pack("!II", NF_ACCEPT, pid))]))
        wait = max(0.0, min(0.05, held[0][0] - now)) if held else 0.05
        if select.select([sock], [], [], wait)[0]:
            try:
                data = sock.recv(65536)
            except OSError:
                continue  # ENOBUFS: the kernel dropped some (as loss would)
            for pid in packet_ids(data):
                heapq.heappush(held, (time.monotonic() + delay_s, seq, pid))
                seq += 1


if __name__ == "__main__":
    main()
