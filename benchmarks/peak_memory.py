"""Peak memory of this process, for the benchmarks' tables."""

from __future__ import annotations

import resource


def peak_rss_mib() -> float:
    """This process's peak resident set in MiB: Linux's VmHWM, which starts afresh at exec (``ru_maxrss``, the
    fallback elsewhere, keeps the peak of the parent a subprocess was forked from)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
