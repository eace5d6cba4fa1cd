#!/bin/bash
# Soak run of pvm6 (issue 10, item 5): mixed load on one host for a given
# time, with a summary every minute and at the end. Not part of CI.
#
#   tools/soak.sh [MINUTES]          (default 30)
#
# Builds the release libpvm3/pvmd3 (cargo build --release; CARGO_TARGET_DIR
# is honoured), compiles c-tests/hardening/hd_load.c and hd_ping.c into a
# private PVM_ROOT, and runs with a private PVM_TMP/HOME under a fresh
# temporary directory (removed at the end; the daemon is halted):
#   - hd_load rounds: 2..64 spawned tasks in a ring exchanging 100..20000
#     messages of random sizes (1 B .. 1 MiB) with checksums, sequence
#     numbers checked per pair; each round also uses a group (join, two
#     barriers, leave), the mailbox (persistent put, recvinfo, delinfo)
#     and pvm_notify(PvmTaskExit) for every task;
#   - hd_ping rounds: a spawned echo task and 20 round trips.
# Every minute it prints: elapsed time, rounds, messages, errors (failed
# checks, failed or timed-out runs: zero expected), the daemon's VmRSS and
# open descriptors. Exit status 0 only when there were no errors.
set -u
MINUTES=${1:-30}
REPO=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
(cd "$REPO" && cargo build --release --quiet) || exit 1
W=$(mktemp -d /tmp/pvm6-soak.XXXXXX)
# A private copy of the library: rebuilding the tree meanwhile cannot touch the run.
LIB=$W/lib
mkdir -p "$LIB"
cp "$TARGET/release/libpvm3.so" "$LIB/libpvm3.so"
ln -s libpvm3.so "$LIB/libpvm3.so.3"
export PVM_TMP=$W/tmp HOME=$W/home PVM_ROOT=$W/root PVM_ARCH=LINUX64
BIN=$PVM_ROOT/bin/LINUX64
mkdir -p "$PVM_TMP" "$HOME" "$BIN"
for p in hd_load hd_ping; do
	gcc -Wall -Wextra -Werror -I "$REPO/include" -I "$REPO/c-tests" -o "$BIN/$p" \
		"$REPO/c-tests/hardening/$p.c" -L "$LIB" -Wl,-rpath,"$LIB" -lpvm3 || exit 1
done
daemon_pid() { cat "$PVM_TMP"/pvm6.*/pvmd.pid 2>/dev/null; }
cleanup() {
	local pid
	pid=$(daemon_pid)
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	sleep 1
	[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start=$(date +%s)
end=$((start + MINUTES * 60))
next=$((start + 60))
rounds=0 msgs=0 kib=0 errors=0 pings=0
rss_idle=""
rss_max=0
status_line() {
	local pid rss fds
	pid=$(daemon_pid)
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null)
	fds=$(ls "/proc/$pid/fd" 2>/dev/null | wc -l)
	[ -z "$rss_idle" ] && rss_idle=$rss
	[ -n "$rss" ] && [ "$rss" -gt "$rss_max" ] && rss_max=$rss
	printf '%s t=%4dmin rounds=%d pings=%d messages=%d MiB=%d errors=%d daemon_pid=%s VmRSS=%sKiB fds=%s\n' \
		"$1" $((($(date +%s) - start) / 60)) "$rounds" "$pings" "$msgs" $((kib / 1024)) \
		"$errors" "$pid" "${rss:-?}" "${fds:-?}"
}
RANDOM=$$
while [ "$(date +%s)" -lt "$end" ]; do
	n=$((2 + RANDOM % 63))
	m=$((100 + (RANDOM * 32768 + RANDOM) % 19901))
	seed=$RANDOM
	out=$(timeout 300 "$BIN/hd_load" "$n" "$m" "$seed" 2>&1)
	rc=$?
	sum=$(grep '^summary' <<<"$out")
	if [ $rc -ne 0 ] || [ -z "$sum" ] || grep -q '^not ok' <<<"$out"; then
		errors=$((errors + 1))
		echo "ERROR: hd_load $n $m $seed exited $rc:"
		grep -E 'not ok|^#' <<<"$out" | head -20
	fi
	got=$(sed -n 's/.*messages=\([0-9]*\).*/\1/p' <<<"$sum")
	e=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$sum")
	k=$(sed -n 's/.*kib=\([0-9]*\).*/\1/p' <<<"$sum")
	msgs=$((msgs + ${got:-0}))
	kib=$((kib + ${k:-0}))
	[ "${e:-0}" -gt 0 ] && errors=$((errors + e))
	rounds=$((rounds + 1))
	out=$(timeout 60 "$BIN/hd_ping" 20 2>&1)
	if [ $? -ne 0 ] || ! grep -q 'stray=0' <<<"$out"; then
		errors=$((errors + 1))
		echo "ERROR: hd_ping failed:"
		tail -5 <<<"$out"
	fi
	pings=$((pings + 1))
	if [ "$(date +%s)" -ge "$next" ]; then
		status_line "minute"
		next=$((next + 60))
	fi
done
sleep 1
status_line "final "
echo "final  daemon VmRSS first sample ${rss_idle}KiB, highest sample ${rss_max}KiB; log $(wc -l <"$PVM_TMP"/pvml.* 2>/dev/null) lines"
grep -c 'lost\|malformed\|out of file' "$PVM_TMP"/pvml.* 2>/dev/null | sed 's/^/final  warning lines in the log: /'
[ "$errors" -eq 0 ]
