#!/usr/bin/env bash
# dev.sh - set up a fresh Debian/Ubuntu machine, build, and run.
#
#   ./dev.sh demo   install what is needed, build, and run the real collectd
#                   with our plugin reading a simulated P1 meter on a
#                   pseudo-terminal; values are printed as they arrive.
#                   Ctrl-C stops.
#   ./dev.sh test   install what is needed, build, run every test (unit,
#                   end-to-end, sanitizer build, distcheck) and print
#                   "N passed, M failed" last.
#
# apt-get needs root: run as root or with sudo.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
jobs=$(nproc 2>/dev/null || echo 2)

PKGS_BUILD="build-essential autoconf automake libtool pkg-config
  collectd-core collectd-dev libserialport-dev libssl-dev libmodbus-dev libcmocka-dev"
PKGS_TEST="python3 clang valgrind man-db groff-base mbpoll libmodbus5
  influxdb graphite-carbon python3-whisper"

say() { printf '==> %s\n' "$*" >&2; }

install_pkgs() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	say "installing: ${missing[*]}"
	local sudo=""
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { echo "dev.sh: need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1; }
		sudo="sudo"
	fi
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

bootstrap() {
	[ -x configure ] && [ configure -nt configure.ac ] || { say "autoreconf"; autoreconf -fi >/dev/null; }
}

# build DIR [configure flags...]
build() {
	local dir=$1; shift
	mkdir -p "$dir"
	( cd "$dir"
	  if [ ! -f Makefile ] || [ "$here/configure" -nt config.status ]; then
		say "configure $* (in $dir)"
		"$here/configure" -q "$@"
	  fi
	  say "make (in $dir)"
	  make -s -j"$jobs" >/dev/null )
}

demo() {
	install_pkgs $PKGS_BUILD
	bootstrap
	build _build
	local d; d=$(mktemp -d /tmp/smartmeter-demo.XXXXXX)
	mkdir -p "$d/plugins" "$d/var"
	cp _build/.libs/smartmeter.so "$d/plugins/"   # collectd loads regular files only
	cat > "$d/collectd.conf" <<CONF
Hostname "demo"
FQDNLookup false
BaseDir "$d/var"
PIDFile "$d/var/collectd.pid"
TypesDB "/usr/share/collectd/types.db"
Interval 10
WriteThreads 1
PluginDir "/usr/lib/collectd"
LoadPlugin logfile
<Plugin logfile>
  LogLevel info
  File STDERR
  PrintSeverity true
</Plugin>
LoadPlugin csv
<Plugin csv>
  DataDir stdout
  StoreRates false
</Plugin>
PluginDir "$d/plugins"
LoadPlugin smartmeter
<Plugin smartmeter>
  <Meter "home">
    Protocol "dsmr"
    Device "$d/p1"
    Interval 2
  </Meter>
</Plugin>
CONF
	say "simulated DSMR 5 meter on $d/p1 (a telegram every second)"
	_build/smartmeter simulate -p dsmr --link "$d/p1" --period 1 &
	demo_sim=$!
	demo_dir=$d
	trap 'kill $demo_sim 2>/dev/null; wait $demo_sim 2>/dev/null; rm -rf "$demo_dir"' EXIT
	for _ in $(seq 50); do [ -L "$d/p1" ] && break; sleep 0.1; done
	say "collectd -f -C $d/collectd.conf (values below as PUTVAL lines; Ctrl-C stops)"
	collectd -f -C "$d/collectd.conf" || true
}

# Sum the results of every test log under the given build dirs: cmocka's
# "[  PASSED  ] N test(s)." / "[  FAILED  ] N test(s)", our scripts'
# "N passed, M failed" lines, otherwise the automake result of the test.
summarise() {
	python3 - "$@" <<'PY'
import glob, os, re, sys
p = int(os.environ.get("EXTRA_PASSED", "0"))
f = int(os.environ.get("EXTRA_FAILED", "0"))
s = 0
for d in sys.argv[1:]:
    for trs in glob.glob(os.path.join(d, "**", "*.trs"), recursive=True):
        log = trs[:-4] + ".log"
        res = open(trs).read()
        text = open(log, errors="replace").read() if os.path.exists(log) else ""
        cp = sum(int(x) for x in re.findall(r"^\[  PASSED  \] (\d+) test", text, re.M))
        cf = sum(int(x) for x in re.findall(r"^\[  FAILED  \] (\d+) test", text, re.M))
        m = re.findall(r"^(\d+) passed, (\d+) failed", text, re.M)
        if ":test-result: SKIP" in res:
            s += 1
            continue
        if cp or cf:
            tp, tf = cp, cf
        elif m:
            tp, tf = int(m[-1][0]), int(m[-1][1])
        else:
            tp, tf = (1, 0) if ":test-result: PASS" in res else (0, 1)
        if ":test-result: PASS" not in res and tf == 0:
            tf = 1  # crashed or failed after printing its counts
        p += tp
        f += tf
print("%d passed, %d failed, %d skipped" % (p, f, s))
sys.exit(1 if f else 0)
PY
}

test_all() {
	install_pkgs $PKGS_BUILD $PKGS_TEST
	bootstrap
	export SM_SHARED="${SM_SHARED:-$(cd "$here/.." && pwd)/shared}"
	[ -d "$SM_SHARED/fixtures" ] || say "no shared fixtures at $SM_SHARED: fixture tests will be skipped"
	local rc=0
	build _build --enable-werror || { echo "build failed" >&2; echo "0 passed, 1 failed"; return 1; }
	say "make check"
	( cd _build && make -s -j"$jobs" check >/dev/null 2>&1 ) || rc=1
	build _build-san --enable-werror --enable-sanitizers CC=clang || { echo "sanitizer build failed" >&2; echo "0 passed, 1 failed"; return 1; }
	say "make check (AddressSanitizer + UndefinedBehaviorSanitizer)"
	( cd _build-san && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		make -s -j"$jobs" check >/dev/null 2>&1 ) || rc=1
	extra() { # extra NAME COMMAND...: one more counted check
		local name=$1; shift
		if "$@" >/tmp/sm-extra.log 2>&1; then
			EXTRA_PASSED=$((EXTRA_PASSED + 1)); echo "PASS: $name" >&2
		else
			EXTRA_FAILED=$((EXTRA_FAILED + 1)); echo "FAIL: $name" >&2; tail -n 30 /tmp/sm-extra.log >&2
		fi
	}
	EXTRA_PASSED=0 EXTRA_FAILED=0
	say "make distcheck"
	extra "make distcheck" sh -c 'cd _build && make -s distcheck'
	say "valgrind: the threaded reader"
	extra "test_reader under valgrind (memcheck, no errors, no definite leaks)" \
		sh -c 'cd _build && valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
		       ./tests/unit/test_reader'
	say "valgrind: the Modbus link and a Modbus bus read by the threaded reader"
	extra "test_modbus_link under valgrind (memcheck, no errors, no definite leaks)" \
		sh -c 'cd _build && valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
		       ./tests/unit/test_modbus_link'
	extra "smartmeter read of a faulty Modbus bus under valgrind (no errors, no definite leaks)" \
		sh tests/e2e/valgrind_modbus.sh _build
	say "valgrind: fault injection (a port that vanishes 20 times, bit flips) through the threaded reader"
	extra "test_faults under valgrind (memcheck, no errors, no definite leaks)" \
		sh -c 'cd _build && SM_FAULTS_VALGRIND=1 valgrind -q --error-exitcode=1 --leak-check=full \
		       --errors-for-leak-kinds=definite ./tests/unit/test_faults'
	say "soak: a compressed day (86,400 telegrams a meter) through one smartmeter read, memory flat"
	extra "make soak: every telegram of a compressed day read, flat memory" sh -c 'cd _build && make -s soak'
	# A fixed seed: a run's inputs follow from the code and the corpus, so
	# a CI result reproduces; `make fuzz` explores with a new seed each run.
	say "fuzzing: every libFuzzer target for ${FUZZ_CI_SECONDS:-5} s (ASan + UBSan, -seed=${FUZZ_CI_SEED:-1}), from its seed corpus"
	for t in $(cd _build && make -s print-fuzz-targets); do
		extra "$t: ${FUZZ_CI_SECONDS:-5} s of libFuzzer without a finding" \
			sh -c "cd _build && make -s $t FUZZ_SECONDS=${FUZZ_CI_SECONDS:-5} FUZZ_FLAGS=-seed=${FUZZ_CI_SEED:-1}"
	done
	say "make install (DESTDIR)"
	extra "make install puts smartmeter.so into collectd's plugin directory and smartmeter into bindir" \
		sh -c 'rm -rf /tmp/sm-destdir && cd _build && make -s install DESTDIR=/tmp/sm-destdir &&
		       test -f /tmp/sm-destdir/usr/lib/collectd/smartmeter.so && ! test -L /tmp/sm-destdir/usr/lib/collectd/smartmeter.so &&
		       ! test -e /tmp/sm-destdir/usr/lib/collectd/smartmeter.la && test -x /tmp/sm-destdir/usr/local/bin/smartmeter &&
		       test -f /tmp/sm-destdir/usr/local/share/man/man1/smartmeter.1 && test -f /tmp/sm-destdir/usr/local/share/man/man5/collectd-smartmeter.5'
	say "configure --without-collectd"
	extra "--without-collectd builds only the program" \
		sh -c 'mkdir -p _build-nocd && cd _build-nocd && "$0/configure" -q --without-collectd --enable-werror && make -s -j2 >/dev/null &&
		       test -x smartmeter && ! test -e .libs/smartmeter.so && ! grep -q "^collectd_plugin_LTLIBRARIES *= *smartmeter.la" Makefile' "$here"
	export EXTRA_PASSED EXTRA_FAILED
	# show the end of every failed test's log
	local failed_logs
	failed_logs=$(grep -l -E "^:test-result: (FAIL|ERROR)" $(find _build _build-san -name '*.trs') 2>/dev/null || true)
	for t in $failed_logs; do
		echo "---- ${t%.trs}.log" >&2
		tail -n 40 "${t%.trs}.log" >&2 || true
	done
	if [ $rc -ne 0 ] && [ "$EXTRA_FAILED" -eq 0 ] && [ -z "$failed_logs" ]; then
		echo "a build failed before its tests could run" >&2
		EXTRA_FAILED=1
		export EXTRA_FAILED
	fi
	summarise _build _build-san || rc=1
	return $rc
}

case "${1:-}" in
demo) demo ;;
test) test_all ;;
*) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac
