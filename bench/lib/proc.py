"""What /proc says about a process, for the memory benchmarks."""


def status_kib(pid, key):
    """A kB figure from /proc/PID/status (VmRSS, RssAnon, VmHWM, ...), or None."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return None
