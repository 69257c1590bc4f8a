#!/usr/bin/env python3
"""Opens N keep-alive connections to one Ironcart on loopback, makes one request on
each, leaves them idle, and reports the server's resident memory (VmRSS) before and
while they are held, then how many the server still keeps open after HOLD seconds.

usage: idle_connections.py PORT SERVER_PID N HOLD_SECONDS
"""
import resource
import socket
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def main():
    port, pid, count, hold = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    count, hold = min(count, 20000), min(hold, 30.0)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = count + 1000 if hard == resource.RLIM_INFINITY else min(count + 1000, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    before = rss_kib(pid)
    sockets = []
    request = b"GET /healthz HTTP/1.1\r\nhost: bench\r\n\r\n"
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(request)
        sockets.append(s)
    answered = 0
    for s in sockets:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        answered += data.startswith(b"HTTP/1.1 200")
    time.sleep(1.0)
    held = rss_kib(pid)
    print(f"idle: {count} connections opened, {answered} answered 200")
    print(f"idle: server VmRSS {before / 1024:.1f} MiB before, {held / 1024:.1f} MiB holding them "
          f"({(held - before) / max(count, 1):.2f} KiB per connection)")
    time.sleep(hold)
    still_open = 0
    for s in sockets:
        s.setblocking(False)
        try:
            still_open += s.recv(1, socket.MSG_PEEK) != b""
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
    print(f"idle: {still_open} of {count} still open after {hold:.0f} s more idle; "
          f"VmRSS then {rss_kib(pid) / 1024:.1f} MiB")
    for s in sockets:
        s.close()


if __name__ == "__main__":
    main()
