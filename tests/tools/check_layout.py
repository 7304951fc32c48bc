#!/usr/bin/env python3
"""Checks the source layout that the compiler cannot: module boundaries and the house rules
on comments and function length. Prints each violation as `file:line: what` and exits 1 when
there is any. Checks:

  private  no file outside scheduler/<module>/ includes that module's private <module>_int.h
           (tests/ may: tests see everything)
  cycle    no include cycle between scheduler modules (a module is a folder under scheduler/;
           module A depends on B when a file in A includes "B/...")
  program  nothing under tasks/ or common/ includes a scheduler header; common/ includes
           nothing from tasks/
  cite     no comment in a .c/.h/.sh/.py file cites the design document or a style rule by
           name (comments cite docs/ files)
  long     no function in scheduler/, common/, tasks/ has a body over 60 lines unless a comment
           in the 3 lines above its definition says why ("long:", "over 60 lines")
  opening  each .c file under scheduler/, common/, tasks/ opens with a comment

Usage: check_layout.py [--root DIR]   check the tree at DIR (default: this repository)
       check_layout.py --self-test    build small trees with each violation and check that
                                      each is caught and a clean tree passes
"""
import os
import re
import shutil
import sys
import tempfile

PROGRAM_DIRS = ("scheduler", "common", "tasks")
SKIP_DIRS = {"build", "bin", "node_modules", "__pycache__"}
MAX_BODY = 60
# Built from parts so that this file does not itself match.
CITE_RE = re.compile("DESIGN" + r"\.md|STYLE" + r"\s+rules?\b")
REASON_RE = re.compile(r"long:|over 60 lines|longer than 60", re.I)
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def walk(root, exts, tops=None):
    """Relative paths of the files under root (or under its folders tops) ending in exts."""
    out = []
    for top in tops or ("",):
        base = os.path.join(root, top)
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames
                                 if not d.startswith(".") and d not in SKIP_DIRS)
            for f in sorted(filenames):
                if f.endswith(exts):
                    out.append(os.path.relpath(os.path.join(dirpath, f), root))
    return out


def read_lines(root, rel):
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        return f.read().split("\n")


def top_of(rel):
    return rel.split(os.sep)[0]


def module_of(rel):
    """The scheduler module (folder under scheduler/) holding rel, or None."""
    parts = rel.split(os.sep)
    return parts[1] if len(parts) > 2 and parts[0] == "scheduler" else None


def resolve(root, rel, inc):
    """The file an #include "inc" in rel names: the including file's folder first, then the
    include paths of the program rel belongs to, then every other source folder (so that an
    include the build would refuse is still attributed). None when nothing matches."""
    here = os.path.dirname(rel)
    if top_of(rel) == "tasks":
        paths = [here, "tasks/lib", "common", "scheduler", ""]
    elif top_of(rel) == "common":
        paths = [here, "common", "scheduler", "tasks/lib", ""]
    else:
        paths = [here, "scheduler", "common", "tasks/lib", ""]
    for p in paths:
        cand = os.path.normpath(os.path.join(p, inc))
        if not cand.startswith("..") and os.path.isfile(os.path.join(root, cand)):
            return cand
    return None


def includes(root, files):
    """(file, line, include text, resolved path) for every quoted include in files."""
    out = []
    for rel in files:
        for n, line in enumerate(read_lines(root, rel), 1):
            m = INCLUDE_RE.match(line)
            if m:
                out.append((rel, n, m.group(1), resolve(root, rel, m.group(1))))
    return out


def check_private(incs):
    out = []
    for rel, n, inc, target in incs:
        if top_of(rel) == "tests" or target is None or not target.endswith("_int.h"):
            continue
        mod = module_of(target)
        if mod and module_of(rel) != mod:
            out.append((rel, n, f'includes the private header "{inc}" of module {mod}'))
    return out


def find_cycles(edges):
    """Every simple cycle of the graph {node: {succ}}, each once, starting at its least node."""
    cycles = []

    def dfs(start, node, path, seen):
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                cycles.append(path + [start])
            elif nxt > start and nxt not in seen:
                dfs(start, nxt, path + [nxt], seen | {nxt})

    for start in sorted(edges):
        dfs(start, start, [start], {start})
    return cycles


def check_cycles(incs):
    edges, where = {}, {}
    for rel, n, inc, target in incs:
        a, b = module_of(rel), module_of(target) if target else None
        if a and b and a != b:
            edges.setdefault(a, set()).add(b)
            where.setdefault((a, b), (rel, n, inc))
    out = []
    for cyc in find_cycles(edges):
        steps = [where[(cyc[i], cyc[i + 1])] for i in range(len(cyc) - 1)]
        why = "; ".join(f'{r}:{n} includes "{i}"' for r, n, i in steps)
        rel, n, _ = steps[0]
        out.append((rel, n, f"include cycle between modules {' -> '.join(cyc)} ({why})"))
    return out


def check_programs(incs):
    out = []
    for rel, n, inc, target in incs:
        if target is None or top_of(rel) not in ("tasks", "common"):
            continue
        if top_of(target) == "scheduler":
            out.append((rel, n, f'{top_of(rel)}/ includes the scheduler header "{inc}"'))
        elif top_of(rel) == "common" and top_of(target) == "tasks":
            out.append((rel, n, f'common/ includes "{inc}" from tasks/'))
    return out


def c_comments(lines):
    """(line number, comment text) for each line of C source that holds comment text;
    string and character literals are skipped."""
    out, in_block = [], False
    for n, line in enumerate(lines, 1):
        i, text, quote = 0, "", None
        while i < len(line):
            c = line[i]
            if in_block:
                if line.startswith("*/", i):
                    in_block, i = False, i + 2
                    continue
                text += c
            elif quote:
                if c == "\\":
                    i += 1
                elif c == quote:
                    quote = None
            elif line.startswith("/*", i):
                in_block, i = True, i + 2
                continue
            elif line.startswith("//", i):
                text += line[i + 2:]
                break
            elif c in "\"'":
                quote = c
            i += 1
        if text:
            out.append((n, text))
    return out


def hash_comments(lines):
    """(line number, comment text) for shell and Python: from a # outside quotes that starts
    the line or follows a space, to the end of the line."""
    out = []
    for n, line in enumerate(lines, 1):
        quote = None
        for i, c in enumerate(line):
            if quote:
                if c == quote:
                    quote = None
            elif c in "\"'":
                quote = c
            elif c == "#" and (i == 0 or line[i - 1] in " \t"):
                out.append((n, line[i + 1:]))
                break
    return out


def check_cites(root):
    out = []
    for rel in walk(root, (".c", ".h", ".sh", ".py")):
        lines = read_lines(root, rel)
        comments = c_comments(lines) if rel.endswith((".c", ".h")) else hash_comments(lines)
        for n, text in comments:
            m = CITE_RE.search(text)
            if m:
                out.append((rel, n, f'comment cites "{m.group(0)}" (cite a docs/ file instead)'))
    return out


def functions(lines):
    """(first line of the definition, name, body lines) for each function in a C file
    formatted by the repository's .clang-format: the opening brace alone in column 0, the
    closing one likewise, the signature on the lines just above the opening brace."""
    out, i = [], 0
    while i < len(lines):
        if lines[i] == "{":
            s = i
            while s > 0 and lines[s - 1].strip() and not lines[s - 1].startswith(("#", "/*", " *")) \
                    and not re.search(r"(;|\}|\*/)\s*$", lines[s - 1]):
                s -= 1
            e = i + 1
            while e < len(lines) and lines[e] != "}":
                e += 1
            m = re.search(r"(\w+)\s*\(", " ".join(lines[s:i]))
            out.append((s + 1, m.group(1) if m else "?", e - i - 1))
            i = e
        i += 1
    return out


def check_long(root):
    out = []
    for rel in walk(root, (".c", ".h"), PROGRAM_DIRS):
        lines = read_lines(root, rel)
        for start, name, body in functions(lines):
            if body <= MAX_BODY:
                continue
            above = lines[max(0, start - 4):start - 1]
            if not any(REASON_RE.search(t) for _, t in c_comments(above)):
                out.append((rel, start, f"function {name} has {body} lines (over {MAX_BODY}) "
                            "and no comment in the 3 lines above saying why"))
    return out


def check_openings(root):
    out = []
    for rel in walk(root, (".c",), PROGRAM_DIRS):
        lines = read_lines(root, rel)
        first = next((n for n, t in enumerate(lines, 1) if t.strip()), 1)
        if not lines[first - 1].lstrip().startswith(("/*", "//")):
            out.append((rel, first, "the file does not open with a comment on its purpose"))
    return out


def check(root):
    """Every violation in the tree at root, as (file, line, what), sorted."""
    code = walk(root, (".c", ".h"))
    incs = includes(root, code)
    found = check_private(incs) + check_cycles(incs) + check_programs(incs)
    found += check_cites(root) + check_long(root) + check_openings(root)
    return sorted(set(found))


# ---- self-test ----------------------------------------------------------------------------

def write(root, rel, text):
    path = os.path.join(root, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def function(name, body_lines, reason=""):
    head = f"/* {reason} */\n" if reason else ""
    return head + f"static int\n{name}(void)\n{{\n" + "    x++;\n" * body_lines + "}\n"


CLEAN = {
    "scheduler/a/a.h": "/* a */\n",
    "scheduler/a/a_int.h": '/* a, private */\n#include "a/a.h"\n',
    "scheduler/a/a.c": '/* Module a. */\n#include "a_int.h"\n#include "b/b.h"\n#include "err.h"\n'
                       + function("a_short", 60) + function("a_long", 61, "long: one table"),
    "scheduler/b/b.h": "/* b */\n",
    "scheduler/b/b.c": "/* Module b: a file name in a string is no citation. */\n"
                       '#include "b/b.h"\nstatic const char *s = "' + "DESIGN" + '.md";\n',
    "common/err.h": "/* err */\n",
    "common/err.c": '// err\n#include "err.h"\n',
    "tasks/lib/pgconn.h": "/* pgconn */\n",
    "tasks/t.c": '/* A task. */\n#include "pgconn.h"\n#include "err.h"\n',
    "tests/unit/test_a.c": '#include "a/a_int.h"\n',
    "tests/run.sh": "#!/bin/sh\necho '# " + "DESIGN" + ".md' # fine\n",
}

# Each case: files to add or replace in the clean tree, and the (file, line, check) it must
# produce, exactly.
CASES = [
    ("private header from another module",
     {"scheduler/c/c.c": '/* c */\n#include "a/a_int.h"\n'},
     [("scheduler/c/c.c", 2, "private")]),
    ("private header by a relative path",
     {"scheduler/c/c.c": '/* c */\n#include "../a/a_int.h"\n'},
     [("scheduler/c/c.c", 2, "private")]),
    ("cycle between two modules",
     {"scheduler/b/b.h": '/* b */\n#include "a/a.h"\n'},
     [("scheduler/a/a.c", 3, "cycle")]),
    ("cycle through three modules",
     {"scheduler/b/b.c": '/* b */\n#include "c/c.h"\n',
      "scheduler/c/c.h": '/* c */\n#include "a/a.h"\n'},
     [("scheduler/a/a.c", 3, "cycle")]),
    ("a task includes a scheduler header",
     {"tasks/t.c": '/* t */\n#include "a/a.h"\n'},
     [("tasks/t.c", 2, "program")]),
    ("common includes a tasks header",
     {"common/err.c": '/* err */\n#include "pgconn.h"\n'},
     [("common/err.c", 2, "program")]),
    ("common includes a scheduler header",
     {"common/err.c": '/* err */\n#include "b/b.h"\n'},
     [("common/err.c", 2, "program")]),
    ("a C comment cites the design document",
     {"tasks/t.c": "/* A task (see " + "DESIGN" + ".md). */\n"},
     [("tasks/t.c", 1, "cite")]),
    ("a shell comment cites a style rule",
     {"tests/run.sh": "#!/bin/sh\ntrue # " + "STYLE" + " rule 4\n"},
     [("tests/run.sh", 2, "cite")]),
    ("a Python comment cites the design document",
     {"tests/x.py": "x = 1  # as " + "DESIGN" + ".md says\n"},
     [("tests/x.py", 1, "cite")]),
    ("a long function with no reason",
     {"tasks/t.c": "/* t */\n" + function("t_long", 61)},
     [("tasks/t.c", 2, "long")]),
    ("a reason further than 3 lines up does not count",
     {"tasks/t.c": "/* t */\n/* long: far */\n\n\n\n" + function("t_long", 80)},
     [("tasks/t.c", 6, "long")]),
    ("a .c file that does not open with a comment",
     {"common/err.c": '\n#include "err.h"\n'},
     [("common/err.c", 2, "opening")]),
]

KIND_WORDS = {"private": "private header", "cycle": "include cycle", "program": "includes",
              "cite": "cites", "long": "lines (over", "opening": "does not open"}


def self_test():
    failures = 0
    for name, changes, want in [("a clean tree", {}, [])] + CASES:
        root = tempfile.mkdtemp(prefix="check_layout.")
        try:
            for rel, text in {**CLEAN, **changes}.items():
                write(root, rel, text)
            got = check(root)
        finally:
            shutil.rmtree(root)
        ok = len(got) == len(want) and all(
            (g[0], g[1]) == (w[0], w[1]) and KIND_WORDS[w[2]] in g[2] for g, w in zip(got, want))
        print(f"{'ok' if ok else 'not ok'} - self-test: {name}")
        if not ok:
            failures += 1
            for g in got:
                print(f"#   got {g[0]}:{g[1]}: {g[2]}")
            for w in want:
                print(f"#   want {w[0]}:{w[1]}: ({w[2]})")
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../.."))
    if len(argv) == 3 and argv[1] == "--root":
        root = argv[2]
    elif len(argv) != 1:
        print(__doc__.split("\n\n")[-1], file=sys.stderr)
        return 2
    found = check(root)
    for rel, n, what in found:
        print(f"{rel}:{n}: {what}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
