#!/bin/sh
# Replay the general-glo-ciphering / Smarty fuzz target over its committed
# seed corpus (make check).
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
exec "$top_builddir/tests/fuzz/fuzz_gcm_replay" "$top_srcdir/tests/fuzz/corpus/gcm"
