#!/bin/sh
# groups.sh - barrier and reduce latency for 2..32 tasks on one host with
# pvm6 and, when installed, PVM 3.4.6 with its group server (pvmgs), in the
# same run; prints a table with ratios. Not a test: `make bench-groups`.
# ROUNDS (default 200) sets the calls timed per size.
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
lib="$repo/target/release"
rounds=${ROUNDS:-200}
work=$(mktemp -d /tmp/pvm6-gbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
sizes="2 4 8 16 32"

setup() { # $1 = name
	d="$work/$1"
	mkdir -p "$d/tmp" "$d/home" "$d/root/bin/LINUX64"
	echo "$d"
}

d=$(setup pvm6)
gcc -O2 -Wall -Wextra -Werror -I"$repo/include" -o "$d/root/bin/LINUX64/gbench" "$repo/benches/gbench.c" \
	-L"$lib" -Wl,-rpath,"$lib" -lgpvm3 -lpvm3 || exit 1
for n in $sizes; do
	(cd "$d/home" && env PVM_TMP="$d/tmp" HOME="$d/home" PVM_ROOT="$d/root" PVM_ARCH=LINUX64 \
		timeout 300 "$d/root/bin/LINUX64/gbench" "$n" "$rounds")
done > "$work/pvm6.txt"
kill "$(cat "$d"/tmp/pvm6.*/pvmd.pid)" 2>/dev/null

orig=no
if [ -x /usr/bin/pvmd ] && [ -x /usr/bin/pvmgs ] && [ -f /usr/lib/x86_64-linux-gnu/libgpvm3.so.3 ]; then
	orig=yes
	o=$(setup orig)
	gcc -O2 -Wall -Wextra -Werror -I/usr/include -o "$o/root/bin/LINUX64/gbench" "$repo/benches/gbench.c" -lgpvm3 -lpvm3 || exit 1
	ln -s /usr/bin/pvmgs "$o/root/bin/LINUX64/pvmgs"
	export PVM_TMP="$o/tmp" HOME="$o/home" PVM_ROOT="$o/root" PVM_ARCH=LINUX64
	[ "$(id -u)" = 0 ] && export PVM_ALLOW_ROOT=1
	/usr/bin/pvmd >/dev/null 2>&1 &
	sleep 1
	for n in $sizes; do
		(cd "$o/home" && timeout 300 "$o/root/bin/LINUX64/gbench" "$n" "$rounds")
	done > "$work/orig.txt"
	echo halt | timeout 10 /usr/bin/pvm >/dev/null 2>&1
fi

echo "barrier and reduce latency, microseconds per call ($rounds calls per size, one host)"
if [ $orig = yes ]; then
	printf '%6s | %12s %12s %7s | %12s %12s %7s\n' tasks "pvm6 barrier" "3.4.6 barr." ratio "pvm6 reduce" "3.4.6 red." ratio
	join "$work/pvm6.txt" "$work/orig.txt" | awk '{ printf "%6d | %12.1f %12.1f %7.2f | %12.1f %12.1f %7.2f\n", $1, $2, $4, $4 / ($2 > 0 ? $2 : 1), $3, $5, $5 / ($3 > 0 ? $3 : 1) }'
	echo "(ratio = PVM 3.4.6 time / pvm6 time: above 1 means pvm6 is faster)"
else
	printf '%6s | %12s %12s\n' tasks "pvm6 barrier" "pvm6 reduce"
	awk '{ printf "%6d | %12.1f %12.1f\n", $1, $2, $3 }' "$work/pvm6.txt"
	echo "(PVM 3.4.6 not installed: apt-get install pvm pvm-dev pvm-examples for the comparison)"
fi
