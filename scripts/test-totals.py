#!/usr/bin/env python3
"""Prints the totals of the meson test runs in the given build dirs as one line:
'N passed, N failed, N skipped'.  A missing or empty log counts as a failure so
that a run that executed nothing can never look green."""
import json
import os
import sys

passed = failed = skipped = 0
for d in sys.argv[1:]:
    log = os.path.join(d, 'meson-logs', 'testlog.json')
    if not os.path.exists(log):
        failed += 1  # the build or the test run never happened
        continue
    seen = 0
    with open(log) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            r = json.loads(line).get('result')
            seen += 1
            if r in ('OK', 'EXPECTEDFAIL'):
                passed += 1
            elif r == 'SKIP':
                skipped += 1
            else:
                failed += 1
    if seen == 0:
        failed += 1

if passed + failed + skipped == 0:
    failed = 1
print(f'{passed} passed, {failed} failed, {skipped} skipped')
