#!/usr/bin/env python3
"""Markdown table from a benchmark's runs.tsv: one row per name, each column the median of the
rounds with (min-max), plus ratios between names computed side by side.

  table.py RUNS.tsv --col KEY "Header" DIGITS [--col ...] [--ratio KEY NAME BASE ...]
                    [--order "a b c"] [--title TEXT]

Rows whose ok column is not "yes" are left out ("noisy": the machine was shared during the run;
they are counted apart). A ratio line gives median(NAME) / median(BASE) and, since every round ran both, the range of
the per-round ratios NAME[r] / BASE[r]."""
import argparse
import csv
import statistics
import sys


def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def fmt(vals, digits):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    f = f"{{:,.{digits}f}}"
    med = statistics.median(vals)
    if len(vals) == 1:
        return f.format(med)
    return f"{f.format(med)} ({f.format(min(vals))}–{f.format(max(vals))})"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tsv")
    ap.add_argument("--col", nargs=3, action="append", default=[], metavar=("KEY", "HEADER", "DIGITS"))
    ap.add_argument("--ratio", nargs=3, action="append", default=[], metavar=("KEY", "NAME", "BASE"))
    ap.add_argument("--order", default="")
    ap.add_argument("--title", default="")
    ap.add_argument("--key", default="name")
    ap.add_argument("--name-header", default="server")
    a = ap.parse_args()

    with open(a.tsv) as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    ok = [r for r in rows if r.get("ok", "yes") == "yes"]
    names = a.order.split() or list(dict.fromkeys(r[a.key] for r in rows))
    names = [n for n in names if any(r[a.key] == n for r in rows)]

    if a.title:
        print(f"{a.title}\n")
    print("| " + " | ".join([a.name_header, "runs ok"] + [h for _, h, _ in a.col]) + " |")
    print("|---|---:|" + "---:|" * len(a.col))
    for n in names:
        mine = [r for r in ok if r[a.key] == n]
        total = sum(1 for r in rows if r[a.key] == n)
        noisy = sum(1 for r in rows if r[a.key] == n and r.get("ok") == "noisy")
        cells = [n, f"{len(mine)}/{total - noisy}" + (f" (+{noisy} noisy)" if noisy else "")]
        for key, _, digits in a.col:
            cells.append(fmt([num(r.get(key)) for r in mine], int(digits)))
        print("| " + " | ".join(cells) + " |")
    if any(n in names and b in names for _, n, b in a.ratio):
        print()
    present = set(names)
    for key, n, base in a.ratio:
        if n not in present or base not in present:
            continue  # a ratio between names this run did not include
        by_round = {}
        for r in ok:
            if r[a.key] in (n, base):
                by_round.setdefault(r.get("round", "1"), {})[r[a.key]] = num(r.get(key))
        paired = [d[n] / d[base] for d in by_round.values() if d.get(n) and d.get(base)]
        a_vals = [num(r.get(key)) for r in ok if r[a.key] == n]
        b_vals = [num(r.get(key)) for r in ok if r[a.key] == base]
        a_vals = [v for v in a_vals if v is not None]
        b_vals = [v for v in b_vals if v is not None]
        if not a_vals or not b_vals:
            print(f"- {n} / {base} ({key}): n/a")
            continue
        med = statistics.median(a_vals) / statistics.median(b_vals)
        rng = f"; per round {min(paired):.2f}–{max(paired):.2f}" if len(paired) > 1 else ""
        print(f"- **{n} / {base}** ({key}): **{med:.2f}** (ratio of medians{rng})")


if __name__ == "__main__":
    sys.exit(main())
