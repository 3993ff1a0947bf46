"""TAP-style results for the Python test helpers: `ok - name` / `not ok - name detail`
lines and a closing count, the same output as tests/lib.sh."""

import sys


class Tap:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print(f"ok - {name}")
        else:
            self.failed += 1
            print(f"not ok - {name} {detail}")

    def finish(self):
        """Prints the counts and exits 1 if anything failed."""
        print(f"{self.passed} passed, {self.failed} failed")
        sys.exit(1 if self.failed else 0)
