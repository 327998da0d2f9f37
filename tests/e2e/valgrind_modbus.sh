#!/bin/sh
# valgrind_modbus.sh BUILDDIR: `smartmeter read` polls a simulated Modbus bus
# with faulty slaves (CRC errors, busy replies, late replies, a dead unit)
# under valgrind's memcheck for a few seconds and is stopped with SIGTERM:
# no memory errors, no definite leaks, values arrived, clean exit.
# It waits until m1 has delivered 6 polls (every slave has been polled
# through its fault several times by then), at most 60 s.
set -u
b=$(cd "${1:-.}" && pwd)
d=$(mktemp -d)
trap 'rm -rf "$d"' EXIT
"$b/smartmeter" simulate -p modbus --link "$d/bus" --meter 1=sdm630 --meter 2=em24:crc \
	--meter 3=sdm120:busy --meter 4=em340:late=300 >/dev/null 2>&1 &
sim=$!
i=0
while [ ! -e "$d/bus" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
[ -e "$d/bus" ] || { echo "the simulator's link $d/bus never appeared"; kill -TERM $sim; exit 1; }
for k in 1:sdm630 2:em24 3:sdm120 4:em340 5:abb-b23; do
	printf '<Meter "m%s">\n Protocol "modbus"\n Device "%s"\n Slave %s\n Model "%s"\n Interval 0.5\n Timeout 0.2\n</Meter>\n' \
		"${k%%:*}" "$d/bus" "${k%%:*}" "${k#*:}"
done >"$d/bus.conf"
valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
	"$b/smartmeter" read -c "$d/bus.conf" >"$d/out" 2>"$d/err" &
v=$!
polls() { grep -c '"meter":"m1","name":"voltage_l1"' "$d/out"; }
i=0
while [ "$(polls)" -lt 6 ] && [ $i -lt 600 ] && kill -0 $v 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
kill -TERM $v
wait $v
rc=$?
kill -TERM $sim 2>/dev/null
wait $sim
grep -v '^D! ' "$d/err"
n=$(polls)
echo "exit $rc, $n polls of m1 with values"
[ $rc -eq 0 ] && [ "$n" -ge 6 ]
