#!/usr/bin/python3
"""Cross-check of tasks/lib/uaparse against python3-ua-parser (the reference implementation),
both reading the same regexes.yaml: every User-Agent of uap-core's test files (or the first N
of them, spread over the files), through build/tools/uaparse_tool and through ua_parser;
prints each disagreement on browser / os family, major and minor and a count, exits 1 if any.
Needs Debian's python3-ua-parser and python3-yaml, so run it with /usr/bin/python3.

Usage: tests/integration/uaparse_crosscheck.py [--tool PATH] [--limit N]
(run by tests/integration/test_uaparse_crosscheck.sh)
"""
import argparse
import glob
import subprocess
import sys

import yaml
from ua_parser import user_agent_parser as ref

UAP = "/usr/share/uap-core"


def user_agents():
    """Every distinct User-Agent of uap-core's test files, in file order (no newlines)."""
    seen = {}
    for f in sorted(glob.glob(UAP + "/tests/*.yaml") + glob.glob(UAP + "/test_resources/*.yaml")):
        with open(f, "rb") as fp:
            for case in yaml.load(fp, Loader=yaml.CSafeLoader)["test_cases"]:
                ua = case["user_agent_string"]
                if isinstance(ua, str) and "\n" not in ua and "\r" not in ua:
                    seen.setdefault(ua, None)
    return list(seen)


def reference(ua):
    b, o = ref.ParseUserAgent(ua), ref.ParseOS(ua)
    return [b["family"], b["major"], b["minor"], o["family"], o["major"], o["minor"]]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", default="build/tools/uaparse_tool")
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()
    uas = user_agents()
    if args.limit:
        step = max(1, len(uas) // args.limit)
        uas = uas[::step][: args.limit]
    data = "".join(ua + "\n" for ua in uas).encode()
    out = subprocess.run([args.tool], input=data, capture_output=True, check=True)
    got = out.stdout.decode().split("\n")
    bad = 0
    for i, ua in enumerate(uas):
        want = [(v or "") for v in reference(ua)]
        # our fields are cut to their buffers (64 bytes for a family, 16 for a version)
        want = [w.encode()[: (63 if k % 3 == 0 else 15)].decode(errors="ignore")
                for k, w in enumerate(want)]
        have = got[i].split("\t")
        if have != want:
            bad += 1
            print("DIFF %r\n  ours %r\n  ref  %r" % (ua, have, want))
    print("uaparse_crosscheck: %d user agents, %d differ; %s" % (len(uas), bad,
                                                                  out.stderr.decode().strip()))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
