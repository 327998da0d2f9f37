#!/bin/sh
# Replay the configuration fuzz target over its committed seed corpus (make check).
: "${top_builddir:=.}"
: "${top_srcdir:=.}"
exec "$top_builddir/tests/fuzz/fuzz_config_replay" "$top_srcdir/tests/fuzz/corpus/config"
