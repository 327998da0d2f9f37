#!/bin/sh
# Replay the M-Bus fuzz target over its committed seed corpus (make check).
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
exec "$top_builddir/tests/fuzz/fuzz_mbus_replay" "$top_srcdir/tests/fuzz/corpus/mbus"
