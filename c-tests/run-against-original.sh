#!/bin/sh
# run-against-original.sh - build the C API tests against the ORIGINAL PVM 3.4.6
# (Debian packages pvm, pvm-dev) and run them, so differences between the
# original and pvm6 are visible.
#
# Usage: c-tests/run-against-original.sh [test-name ...]   (default: every c-tests/*.c)
#
# Everything lives in a private temp dir: PVM_TMP, HOME and PVM_ROOT point
# there, the built programs go to $PVM_ROOT/bin/LINUX64 where pvm_spawn finds
# them.  The original library does not autostart a daemon, so this script
# starts /usr/bin/pvmd by hand and stops it again at the end.  As root the
# original refuses to run unless PVM_ALLOW_ROOT is set, so it is set here.
# The host name must resolve; on this machine it resolves to 127.0.0.1, which
# the original accepts for a one-host virtual machine (it only refuses a
# loopback master when hosts are added).  Set KEEP=1 to keep the temp dir.
set -u

here=$(cd "$(dirname "$0")" && pwd)
uid=$(id -u)
work=$(mktemp -d /tmp/pvm-orig.XXXXXX)
export PVM_TMP="$work/pvmtmp" HOME="$work/home" PVM_ROOT="$work/root" PVM_ARCH=LINUX64
[ "$uid" = 0 ] && export PVM_ALLOW_ROOT=1
bin="$PVM_ROOT/bin/LINUX64"
mkdir -p "$PVM_TMP" "$HOME" "$bin" "$work/out"
# The original's group server, spawned by libgpvm3 on the first group call.
[ -x /usr/bin/pvmgs ] && ln -sf /usr/bin/pvmgs "$bin/pvmgs"

if [ ! -x /usr/bin/pvmd ] || [ ! -f /usr/include/pvm3.h ]; then
	echo "run-against-original: the original PVM is not installed (apt-get install pvm pvm-dev)" >&2
	exit 2
fi

if [ $# -gt 0 ]; then
	names="$*"
else
	names=$(cd "$here" && ls ./*.c | sed 's|^\./||; s|\.c$||')
fi

fail=0
for n in $names; do
	if ! gcc -Wall -Wextra -Werror -I/usr/include -o "$bin/$n" "$here/$n.c" -lgpvm3 -lpvm3; then
		echo "BUILD FAILED: $n"
		fail=1
	fi
done

daemon_pid=
stop_daemon() {
	if [ -n "$daemon_pid" ]; then
		kill -TERM "$daemon_pid" 2>/dev/null
		i=0
		while kill -0 "$daemon_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
		kill -KILL "$daemon_pid" 2>/dev/null
		wait "$daemon_pid" 2>/dev/null
		daemon_pid=
	fi
	rm -f "$PVM_TMP/pvmd.$uid"
}
start_daemon() {
	/usr/bin/pvmd >"$work/out/pvmd.stdout" 2>&1 &
	daemon_pid=$!
	i=0
	while [ ! -s "$PVM_TMP/pvmd.$uid" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	if [ ! -s "$PVM_TMP/pvmd.$uid" ]; then
		echo "run-against-original: pvmd did not start" >&2
		cat "$work/out/pvmd.stdout" "$PVM_TMP/pvml.$uid" >&2 2>/dev/null
		stop_daemon
		exit 2
	fi
}
trap 'stop_daemon; [ "${KEEP:-0}" = 1 ] || rm -rf "$work"' EXIT INT TERM

passed=0
failed=0
for n in $names; do
	[ -x "$bin/$n" ] || { failed=$((failed + 1)); continue; }
	# a fresh daemon per program, as the cargo runner does
	start_daemon
	(cd "$work" && timeout 120 "$bin/$n") >"$work/out/$n.out" 2>"$work/out/$n.err"
	rc=$?
	stop_daemon
	nok=$(grep -c '^not ok' "$work/out/$n.out")
	if [ $rc -eq 0 ] && [ "$nok" -eq 0 ]; then
		passed=$((passed + 1))
		echo "PASS $n ($(grep -c '^ok' "$work/out/$n.out") checks)"
	else
		failed=$((failed + 1))
		echo "FAIL $n (exit $rc, $nok failed checks)"
		grep -A2 '^not ok' "$work/out/$n.out" | sed 's/^/    /'
		[ -s "$work/out/$n.err" ] && sed 's/^/    stderr: /' "$work/out/$n.err" | head -20
	fi
	if [ "${VERBOSE:-0}" = 1 ]; then
		cat "$work/out/$n.out" "$work/out/$n.err"
		cat "$PVM_TMP/pvml.$uid" 2>/dev/null
	fi
	rm -f "$PVM_TMP/pvml.$uid"
done
# the examples-c demos, built with their Makefile against the original
ex="$here/../examples-c"
if [ -z "${ONLY_TESTS:-}" ] && [ $# -eq 0 ] && [ -f "$ex/Makefile" ]; then
	mkdir -p "$work/ex"
	cp "$ex"/*.c "$ex/Makefile" "$work/ex/"
	if make -s -C "$work/ex" PVM_INC=/usr/include PVM_LIB=/usr/lib/x86_64-linux-gnu \
		BINDIR="$bin" install-bin >"$work/out/ex-build" 2>&1; then
		for pair in "hello:from t4" "master:OK" "spmd:token ring done, token 4 (expected 4)" "timing:timing: done"; do
			prog=${pair%%:*}
			want=${pair#*:}
			start_daemon
			(cd "$work" && timeout 120 "$bin/$prog") >"$work/out/ex-$prog.out" 2>&1
			rc=$?
			stop_daemon
			if [ $rc -eq 0 ] && grep -q "$want" "$work/out/ex-$prog.out"; then
				passed=$((passed + 1))
				echo "PASS example $prog"
			else
				failed=$((failed + 1))
				echo "FAIL example $prog (exit $rc, wanted \"$want\")"
			fi
			[ "${VERBOSE:-0}" = 1 ] && cat "$work/out/ex-$prog.out"
		done
	else
		failed=$((failed + 1))
		echo "BUILD FAILED: examples-c"
		cat "$work/out/ex-build"
	fi
fi
[ $fail -ne 0 ] && failed=$((failed + 1))
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
