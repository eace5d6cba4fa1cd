#!/bin/sh
# mkthinlib.sh DIR NAME...
#
# Creates DIR/libNAME.a for each NAME as an empty ar archive, so that link
# lines written for PVM 3.4 (`-lfpvm3 -lgpvm3 -lpvm3`) keep working with
# pvm6. In pvm6 the Fortran (libfpvm3) and group (libgpvm3) entry points
# are part of libpvm3 itself (libpvm3.so and libpvm3.a both export them),
# so these archives carry no code: the linker accepts them, finds nothing
# to take, and resolves every pvmf*_ / group symbol from -lpvm3, which
# such link lines name last. An existing non-empty libNAME.a is left
# alone (a real library installed later wins).
set -eu
[ $# -ge 2 ] || { echo "usage: $0 DIR NAME..." >&2; exit 2; }
dir=$1
shift
mkdir -p "$dir"
for name in "$@"; do
	lib="$dir/lib$name.a"
	if [ -s "$lib" ] && [ "$(wc -c <"$lib")" -gt 8 ]; then
		continue
	fi
	# An ar archive with no members is its 8-byte magic string alone.
	tmp="$lib.tmp.$$"
	printf '!<arch>\n' >"$tmp"
	mv -f "$tmp" "$lib"
done
