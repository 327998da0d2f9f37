#!/bin/sh
# Replay the HDLC fuzz target over its committed seed corpus (make check).
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
exec "$top_builddir/tests/fuzz/fuzz_hdlc_replay" "$top_srcdir/tests/fuzz/corpus/hdlc"
