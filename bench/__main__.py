"""`python -m bench [name ...]`: run every `bench/bench_*.py` (or the named ones) in turn.

Each benchmark module has `main() -> None` that prints its own table with
ratios against a baseline measured side by side in the same run.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str]) -> None:
    names = sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in argv] or names
    unknown = set(wanted) - set(names)
    if unknown:
        sys.exit(f"unknown benchmark(s): {', '.join(sorted(unknown))}; have {', '.join(names)}")
    for name in wanted:
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        importlib.import_module(f"bench.{name}").main()
        print(f"({name} took {time.monotonic() - started:.1f} s)", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
