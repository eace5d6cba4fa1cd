#!/bin/sh
# run.sh - the NetPIPE-style benchmark (`make bench`): pvmbench for every
# route x packing on one host with pvm6, Debian's NPpvm on PVM 3.4.6 and on
# pvm6 (LD_LIBRARY_PATH), NPtcp when installed, all in the same run; then
# spawn/memory/idle-CPU figures; then the two-host part (`cargo bench --bench
# twohost`, benches/netpipe/twohost.rs: namespace hosts with sshd, as root):
# NPtcp, pvmbench on pvm6 and on PVM 3.4.6, NPpvm on both, adding 16 hosts;
# memprobe (the machine alone, no PVM) next to the NPpvm sweeps and around
# the two-host part.
# Prints a table of ratios, writes CSV to target/bench/ and draws
# target/bench/bandwidth.png and bandwidth-twohost.png (benches/netpipe/plot).
# MAX (default 4194304) is the largest message size; SPAWN (default 1000) the
# number of tasks spawned; ADDHOSTS (default 16) the hosts added at once;
# QUICK=1 runs only NPpvm and NPtcp on one host; TWOHOST=0 skips the two-host
# part (TWOHOST=1 keeps it under QUICK=1). Not a test.
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
lib="$repo/target/release"
out="$repo/target/bench"
max=${MAX:-4194304}
spawn_n=${SPAWN:-1000}
work=$(mktemp -d /tmp/pvm6-bench.XXXXXX)
host=$(hostname)
real_home=$HOME
mkdir -p "$out"
[ "$(id -u)" = 0 ] && export PVM_ALLOW_ROOT=1
cleanup() {
	for p in "$work"/*/tmp/pvm6.*/pvmd.pid; do [ -f "$p" ] && kill "$(cat "$p")" 2>/dev/null; done
	rm -rf "$work"
}
trap cleanup EXIT

setup() { # $1 = name: private PVM_TMP, HOME and PVM_ROOT
	d="$work/$1"
	mkdir -p "$d/tmp" "$d/home" "$d/root/bin/LINUX64"
	echo "$d"
}
use() { # $1 = dir from setup
	export PVM_TMP="$1/tmp" HOME="$1/home" PVM_ROOT="$1/root" PVM_ARCH=LINUX64
}
cpu_ticks() { # utime+stime of pid $1
	awk '{ print $14 + $15 }' "/proc/$1/stat"
}

# pvm6's library under the names Debian's binaries link (libpvm3.so.3, libgpvm3.so.3)
shim="$work/lib"
mkdir -p "$shim"
ln -s "$lib/libpvm3.so" "$shim/libpvm3.so.3"
ln -s "$lib/libgpvm3.so.3" "$shim/libgpvm3.so.3" 2>/dev/null || ln -s "$lib/libpvm3.so" "$shim/libgpvm3.so.3"

# The machine alone (memprobe.c: two plain processes handing 1 and 4 MiB
# through shared memory), measured next to each NPpvm sweep and around the
# two-host part: on a virtual machine the rate between two CPUs can change
# several times over from one minute to the next, and a sweep is only
# comparable with what the machine gave at that moment.
probe="$work/memprobe"
gcc -O2 -Wall -Wextra -Werror -o "$probe" "$repo/benches/netpipe/memprobe.c" || exit 1
echo "when,placement,bytes,Gbps" > "$out/machine.csv"
probe_machine() { # $1 = label of the moment
	"$probe" 0.5 1048576 4194304 | sed "s/^/$1,/" >> "$out/machine.csv"
}
# The floor of a relay (memprobe relay): a word handed between two processes,
# and relayed through a third as a daemon relays a message; next to the
# pvmbench runs, whose daemon route is such a relay.
echo "when,kind,usec" > "$out/machine-relay.csv"
probe_relay() { # $1 = label of the moment
	"$probe" relay 0.3 | sed "s/^/$1,/" >> "$out/machine-relay.csv"
}

# --- pvm6: every route x packing --------------------------------------------
d=$(setup pvm6)
bench="$d/root/bin/LINUX64/pvmbench"
gcc -O2 -Wall -Wextra -Werror -I"$repo/include" -o "$bench" "$repo/benches/netpipe/pvmbench.c" \
	-L"$lib" -Wl,-rpath,"$lib" -lpvm3 || exit 1
use "$d"
echo "route,packing,bytes,usec,pingpong_MBps,stream_MBps" > "$out/pvm6.csv"
[ "${QUICK:-0}" = 1 ] || {
probe_relay "before pvmbench"
for route in daemon direct; do
	for pk in default raw inplace psend; do
		echo "pvm6 $route $pk ..." >&2
		(cd "$d/home" && timeout 600 "$bench" $route $pk "$max") >> "$out/pvm6.csv"
	done
done
probe_relay "after pvmbench"
}

# --- NPpvm on pvm6 ---------------------------------------------------------
netpipe_pvm() { # $1 = output file; environment chosen by the caller
	(cd "$HOME" && timeout 600 NPpvm -u "$max" >/dev/null 2>&1) &
	rpid=$!
	sleep 1
	(cd "$HOME" && timeout 600 NPpvm -h "$host" -u "$max" -o "$1" >/dev/null 2>&1)
	wait $rpid
}
if command -v NPpvm >/dev/null 2>&1; then
	echo "NPpvm on pvm6 ..." >&2
	probe_machine "before NPpvm on pvm6"
	LD_LIBRARY_PATH="$shim" netpipe_pvm "$out/nppvm-pvm6.txt"
	probe_machine "after NPpvm on pvm6"
fi
# --- scale and cost (pvm6) ---------------------------------------------------
[ "${QUICK:-0}" = 1 ] || {
echo "spawning $spawn_n tasks ..." >&2
(cd "$d/home" && timeout 600 "$bench" spawn "$spawn_n") > "$out/spawn.csv"
(cd "$d/home" && "$bench" mem) > "$out/mem.csv"
dpid=$(cat "$d"/tmp/pvm6.*/pvmd.pid)
sleep 1
drss=$(awk '/VmRSS/ { print $2 }' "/proc/$dpid/status")
(cd "$d/home" && exec "$bench" block) > "$work/block.out" &
bpid=$!
sleep 1
d0=$(cpu_ticks "$dpid"); b0=$(cpu_ticks "$bpid")
sleep 2
d1=$(cpu_ticks "$dpid"); b1=$(cpu_ticks "$bpid")
kill "$bpid" 2>/dev/null
echo "idle_daemon_rss_kib,$drss" >> "$out/mem.csv"
echo "idle_cpu_ticks_2s,daemon,$((d1 - d0)),blocked_task,$((b1 - b0))" > "$out/idle.csv"
kill "$dpid" 2>/dev/null
}

# --- PVM 3.4.6 (Debian) with NPpvm --------------------------------------------
orig=no
if command -v NPpvm >/dev/null 2>&1 && [ -x /usr/lib/pvm3/lib/pvmd ]; then
	orig=yes
	o=$(setup orig)
	use "$o"
	export PVM_ROOT=/usr/lib/pvm3
	echo "NPpvm on PVM 3.4.6 ..." >&2
	/usr/lib/pvm3/lib/pvmd >/dev/null 2>&1 &
	sleep 1
	probe_machine "before NPpvm on 3.4.6"
	netpipe_pvm "$out/nppvm-orig.txt"
	probe_machine "after NPpvm on 3.4.6"
	echo halt | timeout 10 /usr/bin/pvm >/dev/null 2>&1
fi
if command -v NPtcp >/dev/null 2>&1; then
	echo "NPtcp ..." >&2
	(timeout 600 NPtcp -u "$max" >/dev/null 2>&1) &
	rpid=$!
	sleep 1
	timeout 600 NPtcp -h localhost -u "$max" -o "$out/nptcp.txt" >/dev/null 2>&1
	wait $rpid
fi

# --- two hosts (namespace hosts; skipped with a message when not possible) -----
twohost=${TWOHOST:-1}
[ "${QUICK:-0}" = 1 ] && twohost=${TWOHOST:-0}
rm -f "$out"/twohost* "$out/addhosts.csv" "$out/bandwidth-twohost.png"
if [ "$twohost" = 1 ]; then
	if command -v cargo >/dev/null 2>&1; then
		echo "two hosts (namespace hosts with sshd) ..." >&2
		probe_machine "before the two-host part"
		probe_relay "before the two-host part"
		# Not the one-host part's private directories: the hosts get this
		# environment, and each has its own /tmp. Bounded as a whole; the
		# bench removes its namespaces and daemons itself (also when killed).
		(unset PVM_TMP PVM_ROOT PVM_ARCH; HOME="$real_home" MAX="$max" \
			timeout -k 30 5400 cargo bench -q --bench twohost -- "$out") > "$out/twohost.txt" \
			|| echo "two-host benchmark failed (exit $?); see above" >&2
		probe_machine "after the two-host part"
	else
		echo "SKIP two-host benchmark: cargo not found" > "$out/twohost.txt"
	fi
fi

# --- report --------------------------------------------------------------------
np() { # $1 file $2 bytes $3 column (2 = Mbps, 3 = seconds): value at that size
	[ -f "$1" ] && awk -v b="$2" -v c="$3" '$1 == b { v = $c } END { if (v != "") print v }' "$1"
}
ours() { # $1 route $2 packing $3 bytes $4 column (4 usec, 5 pingpong MB/s, 6 stream MB/s)
	awk -F, -v r="$1" -v p="$2" -v b="$3" -v c="$4" '$1 == r && $2 == p && $3 == b { print $c }' "$out/pvm6.csv"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "-"; else printf "%.2f", a / b }'; }
echo
echo "== $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, $(uname -r)"
echo "== pvm6 pvmbench (one host): one-way latency (us) and ping-pong bandwidth (Gbps)"
printf '%-8s %-8s %10s %12s %12s %12s %12s\n' route packing "lat 1B us" "1MiB Gbps" "4MiB Gbps" "stream 1MiB" "stream 4MiB"
for route in daemon direct; do
	for pk in default raw inplace psend; do
		printf '%-8s %-8s %10s %12s %12s %12s %12s\n' $route $pk "$(ours $route $pk 1 4)" \
			"$(awk -v v="$(ours $route $pk 1048576 5)" 'BEGIN { printf "%.1f", v * 8 / 1000 }')" \
			"$(awk -v v="$(ours $route $pk 4194304 5)" 'BEGIN { printf "%.1f", v * 8 / 1000 }')" \
			"$(awk -v v="$(ours $route $pk 1048576 6)" 'BEGIN { printf "%.1f", v * 8 / 1000 }')" \
			"$(awk -v v="$(ours $route $pk 4194304 6)" 'BEGIN { printf "%.1f", v * 8 / 1000 }')"
	done
done
echo
echo "== Debian's NPpvm binary: PVM 3.4.6 vs pvm6 (same run)"
printf '%-22s %12s %12s %12s\n' "" "lat 1B us" "1MiB Gbps" "4MiB Gbps"
for f in orig pvm6; do
	t="$out/nppvm-$f.txt"
	printf '%-22s %12s %12s %12s\n' "NPpvm on $f" "$(awk -v v="$(np "$t" 1 3)" 'BEGIN { if (v != "") printf "%.1f", v * 1e6 }')" \
		"$(np "$t" 1048576 2 | awk '{ printf "%.1f", $1 / 1000 }')" "$(np "$t" 4194304 2 | awk '{ printf "%.1f", $1 / 1000 }')"
done
[ -f "$out/nptcp.txt" ] && printf '%-22s %12s %12s %12s\n' "NPtcp (loopback)" \
	"$(awk -v v="$(np "$out/nptcp.txt" 1 3)" 'BEGIN { if (v != "") printf "%.1f", v * 1e6 }')" \
	"$(np "$out/nptcp.txt" 1048576 2 | awk '{ printf "%.1f", $1 / 1000 }')" "$(np "$out/nptcp.txt" 4194304 2 | awk '{ printf "%.1f", $1 / 1000 }')"
if [ $orig = yes ]; then
	o1=$(np "$out/nppvm-orig.txt" 1 3); p1=$(np "$out/nppvm-pvm6.txt" 1 3)
	printf '%-22s %12s %12s %12s\n' "ratio pvm6/3.4.6" "$(ratio "$p1" "$o1")" \
		"$(ratio "$(np "$out/nppvm-pvm6.txt" 1048576 2)" "$(np "$out/nppvm-orig.txt" 1048576 2)")" \
		"$(ratio "$(np "$out/nppvm-pvm6.txt" 4194304 2)" "$(np "$out/nppvm-orig.txt" 4194304 2)")"
	echo "(latency ratio: below 1 is faster; bandwidth ratio: above 1 is faster)"
fi
echo
echo "== the machine alone: two processes handing a message through shared memory"
echo "   (memprobe.c, plain C, one copy in and one out; Gbps one way; same CPU / two CPUs)"
printf '%-28s %12s %12s %12s %12s\n' "" "1MiB same" "1MiB apart" "4MiB same" "4MiB apart"
awk -F, 'NR > 1 { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } v[$1 "," $2 "," $3] = $4 }
	END { for (i = 1; i <= n; i++) { w = order[i]
		printf "%-28s %12s %12s %12s %12s\n", w, v[w ",same,1048576"], v[w ",apart,1048576"],
			v[w ",same,4194304"], v[w ",apart,4194304"] } }' "$out/machine.csv"
[ "${QUICK:-0}" = 1 ] || {
echo
echo "== the machine alone: a word handed between two processes, and relayed through a third"
echo "   (as one host's daemon relays a message)"
echo "   (memprobe relay, plain C: us one way, sched_yield while waiting, placed by the scheduler)"
printf '%-28s %10s %10s %10s\n' "" "handoff" "relay" "adds"
awk -F, 'NR > 1 { if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } v[$1 "," $2] = $3 }
	END { for (i = 1; i <= n; i++) { w = order[i]; h = v[w ",handoff"]
		printf "%-28s %10s %10s %10.3f\n", w, h, v[w ",relay"], v[w ",relay"] - h } }' "$out/machine-relay.csv"
# The least a relay added in this run, on top of pvm6's own direct route: the
# daemon route's latency if the daemon's own work cost nothing.
adds=$(awk -F, 'NR > 1 { v[$1 "," $2] = $3; w[$1] = 1 }
	END { m = ""; for (k in w) if ((k ",relay") in v && (k ",handoff") in v) {
		d = v[k ",relay"] - v[k ",handoff"]; if (m == "" || d < m) m = d }; print m }' "$out/machine-relay.csv")
echo "daemon-route / direct-route latency at 1 B, one host: measured, and the floor (direct + least relay"
echo "addition above) / direct, the ratio of a daemon that did no work at all"
printf '%-10s %10s %10s %10s %10s\n' packing "direct us" "daemon us" measured floor
for pk in default raw inplace psend; do
	dl=$(ours direct $pk 1 4); ml=$(ours daemon $pk 1 4)
	printf '%-10s %10s %10s %10s %10s\n' $pk "$dl" "$ml" "$(ratio "$ml" "$dl")" \
		"$(awk -v a="$dl" -v r="$adds" 'BEGIN { if (a == "" || r == "" || a == 0) print "-"; else printf "%.2f", (a + r) / a }')"
done
echo
echo "== scale and cost"
awk -F, '{ printf "spawn %d tasks: %.2f s until all spawned, %.2f s until all exited\n", $2, $3, $4 }' "$out/spawn.csv"
awk -F, '$1 == "mem" { printf "task library state: %d KiB (VmRSS growth of pvm_mytid)\n", $2 } $1 == "idle_daemon_rss_kib" { printf "idle daemon VmRSS: %d KiB\n", $2 }' "$out/mem.csv"
awk -F, '{ printf "CPU ticks over 2 s: idle daemon %d, task blocked in pvm_recv %d\n", $3, $5 }' "$out/idle.csv"
}
if [ -s "$out/twohost.txt" ]; then
	echo
	cat "$out/twohost.txt"
fi
for f in nppvm-orig nppvm-pvm6 nptcp; do
	[ -f "$out/$f.txt" ] && awk -v OFS=, 'BEGIN { print "bytes,Mbps,usec" } NF >= 3 { print $1, $2, $3 * 1e6 }' "$out/$f.txt" > "$out/$f.csv"
done
if command -v cargo >/dev/null 2>&1; then
	HOME="$real_home" CARGO_TARGET_DIR="$repo/target/bench-plot" cargo run --release -q --manifest-path "$repo/benches/netpipe/plot/Cargo.toml" -- "$out" \
		&& echo "plot: $out/bandwidth.png" \
		&& { [ ! -f "$out/bandwidth-twohost.png" ] || echo "plot: $out/bandwidth-twohost.png"; }
fi
