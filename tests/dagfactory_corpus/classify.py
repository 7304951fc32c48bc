"""Classify each YAML file of the dag-factory corpus from gust's own output.

Usage: classify.py OUT_DIR, where OUT_DIR holds N.list.json and N.diags.json for each file
(from `gust dags list -o json` and `gust dags list-import-errors -o json`, run on a folder
holding only that file and the defaults.yml files of its folder and their parents, with the
file at its corpus path); only the entries of each file's own path count. Prints one line per file,
sorted: `path<TAB>class<TAB>detail`, where class is `loads` (no error; detail: its DAG ids),
`partial` (some DAGs load, some are refused; detail: the DAG ids that load, then the first
error) or `refused` (detail: the first error, as file:line:col: message), then a summary line
`# files: L of N load fully, P partly; DAGs: D of T` (T counts the top-level mappings of each
file other than `default`, as dag-factory would try to build them)."""
import glob
import json
import os
import sys

import yaml


def candidates(path):
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except Exception:  # an invalid file counts as one DAG file with no DAG
        return 0
    if not isinstance(doc, dict):
        return 0
    return sum(1 for k, v in doc.items() if k != "default" and isinstance(v, dict))


def main():
    dags, diags = [], []
    for name in sorted(glob.glob(os.path.join(sys.argv[1], "*.list.json"))):
        dags += json.load(open(name))
    for name in sorted(glob.glob(os.path.join(sys.argv[1], "*.diags.json"))):
        diags += json.load(open(name))
    files = sorted(glob.glob("**/*.yml", recursive=True) + glob.glob("**/*.yaml", recursive=True))
    by_file = {}
    for d in dags:
        if d["dag_id"] in by_file.get(d["fileloc"], []):
            continue  # a defaults.yml loaded beside each file of its folder
        by_file.setdefault(d["fileloc"], []).append(d["dag_id"])
    first_error = {}
    for d in diags:
        if d["level"] == "error" and d["filename"] not in first_error:  # the first load wins
            first_error[d["filename"]] = "%s:%d:%d: %s" % (d["filename"], d["line"], d["col"], d["message"])
    full = part = ndags = total = 0
    for path in files:
        ids = sorted(by_file.get(path, []))
        ndags += len(ids)
        total += candidates(path)
        if path not in first_error:
            full += 1
            print("%s\tloads\t%s" % (path, " ".join(ids)))
        elif ids:
            part += 1
            print("%s\tpartial\t%s; %s" % (path, " ".join(ids), first_error[path]))
        else:
            print("%s\trefused\t%s" % (path, first_error[path]))
    print("# files: %d of %d load fully, %d partly; DAGs: %d of %d" % (full, len(files), part, ndags, total))


main()
