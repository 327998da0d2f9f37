#!/usr/bin/env python3
"""IEC 62056-21 fixture conformance (being written): skipped for now."""
import sys
print("SKIP fixtures_iec: not written yet")
sys.exit(77)
