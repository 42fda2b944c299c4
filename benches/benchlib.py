"""Helpers shared by the bench scripts: ports, exporter start-up, scrapes and /proc figures."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    """A loopback port that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    """User plus system CPU time of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss_bytes(pid):
    """Peak resident set size (VmHWM) of a process."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def fetch(url, gzip=False, timeout=30):
    """GETs url (asking for gzip if told); returns (seconds, body length)."""
    start = time.perf_counter()
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"} if gzip else {})
    with urllib.request.urlopen(request, timeout=timeout) as resp:
        body = resp.read()
    return time.perf_counter() - start, len(body)


def start(cmd, url):
    """Starts cmd and waits until url answers; exits the script if it does not within 20 s."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while True:
        try:
            fetch(url)
            return proc
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                proc.wait()
                sys.exit(f"{cmd[0]} did not start")
            time.sleep(0.05)
