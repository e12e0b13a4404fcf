#!/usr/bin/env python3
"""Top-level module import cycles of each crate (issue 23's measure).

For every crate under crates/, each top-level module (a file `src/x.rs` or a folder `src/x/`)
is a node; a mention of `crate::y` (or `super::y` from inside the folder's own files, which stays
inside the module and is ignored) in any of its files is an edge x -> y. The crate root (lib.rs /
main.rs) is not a node. Prints every strongly connected component of more than one module, with
an edge list, and exits 1 if there is any (with --check).

    python3 tools/module-cycles.py [--check] [--allow CRATE,...]

With --check it exits 1 when a crate not named by --allow has a cycle (CI allows none).
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")
ITEM = re.compile(r"\bcrate::(?:\{([^}]*)\}|([a-z_][a-z0-9_]*))")


def modules(src):
    mods = {}
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry)
        if entry in ("lib.rs", "main.rs"):
            continue
        if entry.endswith(".rs"):
            mods[entry[:-3]] = [path]
        elif os.path.isdir(path):
            files = []
            for dirpath, _, names in os.walk(path):
                files += [os.path.join(dirpath, n) for n in names if n.endswith(".rs")]
            mods[entry] = files
    return mods


def edges(mods):
    out = {m: set() for m in mods}
    for m, files in mods.items():
        for f in files:
            text = open(f, encoding="utf-8").read()
            # Tests inside a module do not make the module depend on anything.
            text = text.split("#[cfg(test)]")[0]
            # Comments (docs naming another module) are not dependencies.
            text = re.sub(r"//[^\n]*", "", text)
            for group, single in ITEM.findall(text):
                names = [single] if single else [
                    n.strip().split("::")[0] for n in group.split(",") if n.strip()
                ]
                for n in names:
                    if n in mods and n != m:
                        out[m].add(n)
    return out


def sccs(graph):
    index, low, stack, on, result, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            result.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [c for c in result if len(c) > 1]


def main():
    check = "--check" in sys.argv
    allowed = set()
    if "--allow" in sys.argv:
        allowed = set(sys.argv[sys.argv.index("--allow") + 1].split(","))
    found = 0
    for crate in sorted(os.listdir(ROOT)):
        src = os.path.join(ROOT, crate, "src")
        if not os.path.isdir(src):
            continue
        mods = modules(src)
        graph = edges(mods)
        cycles = sccs(graph)
        if crate not in allowed:
            found += len(cycles)
        in_cycles = sum(len(c) for c in cycles)
        print(f"{crate}: {len(mods)} modules, {len(cycles)} cycle(s), {in_cycles} modules in them")
        for c in cycles:
            print("  cycle: " + ", ".join(c))
    if check and found:
        sys.exit(1)


if __name__ == "__main__":
    main()
