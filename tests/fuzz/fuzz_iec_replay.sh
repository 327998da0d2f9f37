#!/bin/sh
# Replay the IEC 62056-21 fuzz target over its committed seed corpus (make check).
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
exec "$top_builddir/tests/fuzz/fuzz_iec_replay" "$top_srcdir/tests/fuzz/corpus/iec"
