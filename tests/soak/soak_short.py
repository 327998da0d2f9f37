"""The soak test's short variant for `make check`: 5,000 telegrams per push
meter, one every 2 ms (about 10 s), with the same checks as the full day
(`make soak`, tests/soak/soak.py)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import soak  # noqa: E402

soak.main(["--telegrams", "5000", "--period", "0.002"] + sys.argv[1:])
