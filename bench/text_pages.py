#!/usr/bin/env python3
"""Where a server's resident code comes from: the pages of its executable's code mapping that
are in memory (/proc/PID/pagemap; run as root), grouped into the 64 KiB blocks the kernel maps
at once on a fault ("fault-around"), each block named after the module owning most of its
symbols. Explains the file-backed part of RSS: code is shared page cache, not per-process.

    bench/text_pages.py PID [BINARY]     # BINARY defaults to /proc/PID/exe
"""
import bisect
import collections
import os
import re
import struct
import subprocess
import sys

PAGE = os.sysconf("SC_PAGE_SIZE")
BLOCK = 64 * 1024


def module_of(symbol):
    """The Swift module of a mangled symbol, or a coarse label for C and C++ code."""
    if symbol.startswith("$ss"):
        return "Swift stdlib"
    m = re.match(r"\$s(\d+)", symbol)
    if m:
        start = m.end()
        return symbol[start:start + int(m.group(1))]
    if symbol.startswith("gale"):
        return "libcore"
    if symbol.startswith("_Z") or symbol.startswith("swift"):
        return "Swift runtime (C++)"
    return "other C"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    pid = int(sys.argv[1])
    binary = os.path.realpath(sys.argv[2] if len(sys.argv) > 2 else f"/proc/{pid}/exe")
    symbols = []
    for line in subprocess.run(["nm", "-n", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "tTwW":
            symbols.append((int(parts[0], 16), parts[2]))
    addresses = [a for a, _ in symbols]

    base = None
    code = []
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            f = line.split()
            if len(f) < 6 or os.path.realpath(f[5]) != binary:
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            if base is None:
                base = lo - int(f[2], 16)  # load bias: the mapping at file offset 0
            if "x" in f[1]:
                code.append((lo, hi))
    if not code:
        sys.exit(f"no code mapping of {binary} in process {pid}")

    resident = 0
    blocks = collections.defaultdict(collections.Counter)
    total_pages = 0
    with open(f"/proc/{pid}/pagemap", "rb") as pm:
        for lo, hi in code:
            n = (hi - lo) // PAGE
            total_pages += n
            pm.seek(lo // PAGE * 8)
            entries = pm.read(n * 8)
            for i in range(n):
                if not struct.unpack_from("<Q", entries, i * 8)[0] >> 63:
                    continue
                resident += 1
                addr = lo + i * PAGE - base  # as nm prints it
                j = max(bisect.bisect_right(addresses, addr) - 1, 0)
                while j < len(symbols) and symbols[j][0] < addr + PAGE:
                    blocks[addr // BLOCK][module_of(symbols[j][1])] += 1
                    j += 1
    owners = collections.Counter(c.most_common(1)[0][0] for c in blocks.values() if c)
    print(f"{binary}: code mapping {total_pages * PAGE / 2**20:.1f} MiB, resident {resident * PAGE / 2**20:.1f} MiB "
          f"in {len(blocks)} blocks of 64 KiB")
    for name, n in owners.most_common():
        print(f"  {n:4d} blocks ({n * BLOCK / 2**20:.1f} MiB)  mostly {name}")


main()
