#!/bin/sh
# Replay the DLMS APDU fuzz target over its committed seed corpus (make check).
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
exec "$top_builddir/tests/fuzz/fuzz_dlms_replay" "$top_srcdir/tests/fuzz/corpus/dlms"
