#!/usr/bin/env python3
"""
Userspace link impairment for the NAT lab: a stand-in for `tc qdisc ... netem`, which this kernel lacks
(CONFIG_NET_SCH_NETEM is not set, no modules directory, `tc qdisc add ... netem` answers "Specified qdisc kind is
unknown"). It runs inside a NAT router namespace on a TUN device that the router's policy routing sends every
forwarded packet through (see NatLab.impair in lab.ts). Packets whose source is the router's LAN (its uplink
direction, what netem on the WAN egress would see) are dropped with probability LOSS and delayed by DELAY ms, in
order, with a queue of at most LIMIT packets (netem's default 1000; tail drop beyond); packets towards the LAN pass
at once. Loss is drawn from a seeded generator, so a run can be repeated.

usage: impair.py TUN_NAME LAN_CIDR LOSS_PERCENT DELAY_MS SEED [LIMIT]
Prints "ready" once attached; on SIGTERM prints "stats {...}" (passed, dropped, overflow) and exits.
"""
import fcntl
import heapq
import ipaddress
import json
import os
import random
import select
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000


def main() -> None:
    name, cidr, loss_pct, delay_ms, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
    limit = int(sys.argv[6]) if len(sys.argv) > 6 else 1000
    net = ipaddress.ip_network(cidr)
    lan_base, lan_mask = int(net.network_address), int(net.netmask)
    fd = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    rng = random.Random(seed)
    p_loss = loss_pct / 100.0
    delay = delay_ms / 1000.0
    queue: list = []  # (due, seq, packet): a fixed delay keeps packets in order
    seq = 0
    stats = {'passed': 0, 'delayed': 0, 'dropped': 0, 'overflow': 0}
    stop = False

    def on_term(_s, _f):
        nonlocal stop
        stop = True
    signal.signal(signal.SIGTERM, on_term)
    print('ready', flush=True)
    while not stop:
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            pkt = heapq.heappop(queue)[2]
            try:
                os.write(fd, pkt)
            except OSError:
                pass
        timeout = max(0.0, queue[0][0] - now) if queue else 0.5
        try:
            r, _, _ = select.select([fd], [], [], timeout)
        except InterruptedError:
            continue
        if not r:
            continue
        for _ in range(256):
            try:
                pkt = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                break
            if len(pkt) < 20 or pkt[0] >> 4 != 4:
                continue
            src = struct.unpack_from('!I', pkt, 12)[0]
            if src & lan_mask != lan_base:
                stats['passed'] += 1
                try:
                    os.write(fd, pkt)
                except OSError:
                    pass
                continue
            if rng.random() < p_loss:
                stats['dropped'] += 1
                continue
            if len(queue) >= limit:
                stats['overflow'] += 1
                continue
            stats['delayed'] += 1
            seq += 1
            heapq.heappush(queue, (time.monotonic() + delay, seq, pkt))
    print('stats ' + json.dumps(stats), flush=True)


if __name__ == '__main__':
    main()
