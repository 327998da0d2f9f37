#!/bin/sh
# Replay the DSMR fuzz target over its committed seed corpus (make check).
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
exec "$top_builddir/tests/fuzz/fuzz_dsmr_replay" "$top_srcdir/tests/fuzz/corpus/dsmr"
