#!/usr/bin/env python3
"""measure.py CMD [ARGS...]: run CMD (its output discarded), print "WALL_SECONDS MAXRSS_KIB EXIT".

Peak memory is the child's ru_maxrss (getrusage RUSAGE_CHILDREN, the largest of the
children waited for: run one command per call)."""
import resource
import subprocess
import sys
import time

t0 = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
wall = time.perf_counter() - t0
print(f"{wall:.4f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {rc}")
