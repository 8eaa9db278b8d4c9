"""Run every benchmark section and print one table per section."""

from __future__ import annotations

import importlib
import sys

SECTIONS = ["core", "storm", "pool", "extension", "extension_burst", "coldstart", "sdk"]


def main() -> int:
    for name in SECTIONS:
        module = importlib.import_module(f"tests.bench.{name}")
        print(f"\n== {name}: {module.__doc__.splitlines()[0] if module.__doc__ else ''}")
        rows = module.run()
        width = max(len(label) for label, _ in rows)
        for label, value in rows:
            print(f"  {label:<{width}}  {value}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
