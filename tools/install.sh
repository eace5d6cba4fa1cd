#!/bin/sh
# tools/install.sh: installs pvm6 (or removes what it installed) in one of two
# layouts.  The Makefile's install/uninstall targets call it; it can be run
# directly:
#
#   tools/install.sh install   PVM_ROOT=DIR | PREFIX=DIR  [VAR=value ...]
#   tools/install.sh uninstall PVM_ROOT=DIR | PREFIX=DIR  [VAR=value ...]
#
# PVM_ROOT=DIR  the classic PVM 3.4 tree: include/, lib/LINUX64/ (static
#               libraries and pvmd3), lib/pvmd, lib/pvm, lib/pvmgetarch,
#               lib/aimk, console/LINUX64/pvm, bin/LINUX64/, conf/LINUX64.def,
#               man/man1/.  Files of an older PVM already there are moved
#               aside (to pvm6/replaced/) and put back by uninstall; the
#               user's own files are never touched.
# PREFIX=DIR    the FHS layout: lib/libpvm3.so.3.4.6 with the links
#               libpvm3.so.3 and libpvm3.so, the static libraries, include/,
#               bin/pvm, bin/pvmd3, bin/pvmtrace, lib/pkgconfig/pvm3.pc,
#               share/man/man1/.
#               ldconfig runs afterwards when installing as root without
#               DESTDIR.
#
# Other variables (VAR=value arguments; empty means unset):
#   DESTDIR   staging directory put in front of every installed path
#   BUILDDIR  where cargo left the build (default $CARGO_TARGET_DIR/release
#             or <source>/target/release)
#   SRCDIR    the source tree (default: the parent of this script's directory)
#   LDCONFIG  the command run after a PREFIX (un)install as root without
#             DESTDIR (default ldconfig; LDCONFIG=true skips it)
#
# Required in BUILDDIR: libpvm3.a, pvmd3 and, for PREFIX, libpvm3.so; when
# one is missing, install stops and names the command to run (make build).
# Installed when present: pvm (console), pvmgs, libgpvm3.so, and
# <source>/include/fpvm3.h.  libgpvm3.a and libfpvm3.a are always installed:
# taken from BUILDDIR, or made here as `make build` makes them (empty
# archives, tools/mkthinlib.sh: the group and Fortran code is in libpvm3)
# when BUILDDIR has none, e.g. after a plain `cargo build --release`;
# without them a `-lfpvm3 -lgpvm3 -lpvm3` link line would take another
# PVM's libfpvm3.a from the system's directories.
#
# Everything installed is listed in a manifest (pvm6/install-manifest in a
# PVM_ROOT tree, share/pvm6/install-manifest under a PREFIX); uninstall
# removes exactly the files listed there, restores the files it had moved
# aside and removes the directories it created if they are empty.
#
# Manifest lines: "dir REL" (directory created), "file REL", "link REL",
# "saved REL" (a file found at REL, kept as replaced/REL); REL is relative to
# the tree's root.

set -eu

ARCH=LINUX64
# The PVM release whose interface pvm6 provides; names the shared library file.
API_VERSION=3.4.6
# What `cargo rustc --lib -- --print native-static-libs` reports for libpvm3.a.
NATIVE_LIBS="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

prog=install.sh

die() {
	echo "$prog: $*" >&2
	exit 1
}

note() {
	echo "$prog: $*"
}

usage() {
	die "usage: $prog install|uninstall PVM_ROOT=DIR|PREFIX=DIR [DESTDIR=DIR] [BUILDDIR=DIR] [SRCDIR=DIR] [LDCONFIG=CMD]"
}

# ---------------------------------------------------------------- arguments

[ $# -ge 1 ] || usage
action=$1
shift
case $action in
install | uninstall) ;;
*) usage ;;
esac

A_PVM_ROOT=
A_PREFIX=
A_DESTDIR=
A_BUILDDIR=
A_SRCDIR=
A_LDCONFIG=ldconfig
for arg in "$@"; do
	case $arg in
	PVM_ROOT=*) A_PVM_ROOT=${arg#*=} ;;
	PREFIX=*) A_PREFIX=${arg#*=} ;;
	DESTDIR=*) A_DESTDIR=${arg#*=} ;;
	BUILDDIR=*) A_BUILDDIR=${arg#*=} ;;
	SRCDIR=*) A_SRCDIR=${arg#*=} ;;
	LDCONFIG=*) A_LDCONFIG=${arg#*=} ;;
	*) usage ;;
	esac
done

if [ -n "$A_PVM_ROOT" ] && [ -n "$A_PREFIX" ]; then
	die "give PVM_ROOT=DIR or PREFIX=DIR, not both"
elif [ -n "$A_PVM_ROOT" ]; then
	mode=root
	root=$A_PVM_ROOT
elif [ -n "$A_PREFIX" ]; then
	mode=prefix
	root=$A_PREFIX
else
	usage
fi
case $root in
/*) ;;
*) die "the install directory must be an absolute path: $root" ;;
esac
# strip trailing slashes (but keep "/")
while [ "${root%/}" != "$root" ] && [ "$root" != / ]; do
	root=${root%/}
done
[ "$root" = / ] && root=

# base: the directory that receives the tree (DESTDIR in front of it)
base=$A_DESTDIR$root
[ -n "$base" ] || base=/

if [ "$mode" = root ]; then
	statedir_rel=pvm6
else
	statedir_rel=share/pvm6
fi
manifest=$base/$statedir_rel/install-manifest
replaced=$base/$statedir_rel/replaced

# ---------------------------------------------------------------- manifest

# Entries of this run, appended to the manifest at the end.
new_entries=
# Manifest of an earlier install into the same tree (its files are ours).
old_entries=
if [ -f "$manifest" ]; then
	old_entries=$(cat "$manifest")
fi

nl='
'

record() {
	new_entries=$new_entries$1$nl
}

# is_ours REL: whether an earlier install of pvm6 put REL there.
is_ours() {
	printf '%s\n' "$old_entries" | grep -qxF -e "file $1" -e "link $1"
}

# was_saved REL: whether an earlier install already moved a file from REL aside.
was_saved() {
	printf '%s\n' "$old_entries" | grep -qxF "saved $1"
}

# The helpers below share the shell's one set of variables (POSIX sh has no
# local variables): each uses names of its own, prefixed with its initials,
# and none calls another while it still needs its own.

# ensure_dir REL: creates base/REL and its missing parents, recording them.
ensure_dir() {
	ed_missing=
	ed_rel=$1
	while [ "$ed_rel" != . ] && [ "$ed_rel" != / ] && [ ! -d "$base/$ed_rel" ]; do
		if [ -e "$base/$ed_rel" ] || [ -L "$base/$ed_rel" ]; then
			die "$base/$ed_rel exists and is not a directory"
		fi
		ed_missing="$ed_rel$nl$ed_missing"
		ed_rel=$(dirname -- "$ed_rel")
	done
	# parents first
	for ed_rel in $ed_missing; do
		mkdir -- "$base/$ed_rel"
		chmod 755 "$base/$ed_rel"
		record "dir $ed_rel"
	done
}

# make_room REL: before installing at REL, moves a file that is not ours
# (an older PVM's) to replaced/REL so that uninstall can put it back.
make_room() {
	mr_rel=$1
	mr_dst=$base/$mr_rel
	if [ -d "$mr_dst" ] && [ ! -L "$mr_dst" ]; then
		die "$mr_dst is a directory; not replacing it"
	fi
	if [ -e "$mr_dst" ] || [ -L "$mr_dst" ]; then
		if is_ours "$mr_rel" || was_saved "$mr_rel"; then
			return 0
		fi
		ensure_dir "$statedir_rel"
		mkdir -p -- "$(dirname -- "$replaced/$mr_rel")"
		mv -f -- "$mr_dst" "$replaced/$mr_rel"
		record "saved $mr_rel"
		note "moved the existing $mr_dst to $replaced/$mr_rel"
	fi
}

# put SRC REL MODE: installs file SRC as base/REL.  The copy is written
# beside the target and renamed over it, so a running pvmd3 or a program
# using the old library keeps its file.
put() {
	pu_src=$1
	pu_rel=$2
	pu_mode=$3
	ensure_dir "$(dirname -- "$pu_rel")"
	make_room "$pu_rel"
	pu_tmp=$base/$pu_rel.pvm6-new.$$
	cp -- "$pu_src" "$pu_tmp"
	chmod "$pu_mode" "$pu_tmp"
	mv -f -- "$pu_tmp" "$base/$pu_rel"
	record "file $pu_rel"
}

# put_link TARGET REL: installs the symlink base/REL -> TARGET.
put_link() {
	pl_target=$1
	pl_rel=$2
	ensure_dir "$(dirname -- "$pl_rel")"
	make_room "$pl_rel"
	rm -f -- "$base/$pl_rel"
	ln -s -- "$pl_target" "$base/$pl_rel"
	record "link $pl_rel"
}

write_manifest() {
	ensure_dir "$statedir_rel"
	wm_tmp=$manifest.pvm6-new.$$
	# the earlier entries first (their directories come before ours), then
	# this run's, each once
	printf '%s\n%s' "$old_entries" "$new_entries" | awk 'NF && !seen[$0]++' >"$wm_tmp"
	mv -f -- "$wm_tmp" "$manifest"
}

run_ldconfig() {
	if [ "$mode" = prefix ] && [ -z "$A_DESTDIR" ] && [ "$(id -u)" = 0 ]; then
		note "running $A_LDCONFIG"
		$A_LDCONFIG || note "warning: $A_LDCONFIG failed"
	fi
}

# ---------------------------------------------------------------- install

do_install() {
	srcdir=$A_SRCDIR
	if [ -z "$srcdir" ]; then
		srcdir=$(dirname -- "$0")/..
	fi
	srcdir=$(cd -- "$srcdir" && pwd)
	builddir=$A_BUILDDIR
	if [ -z "$builddir" ]; then
		if [ -n "${CARGO_TARGET_DIR:-}" ]; then
			builddir=$CARGO_TARGET_DIR/release
		else
			builddir=$srcdir/target/release
		fi
	fi

	need="$builddir/libpvm3.a $builddir/pvmd3 $srcdir/include/pvm3.h"
	[ "$mode" = prefix ] && need="$need $builddir/libpvm3.so"
	for f in $need; do
		[ -f "$f" ] || die "$f is missing: run 'make build' in $srcdir first (as yourself), then install again"
	done
	for f in pvm pvmgs; do
		[ -f "$builddir/$f" ] || note "note: $builddir/$f not built: not installed"
	done
	# the thin libraries: BUILDDIR's, or made in a directory of our own (the
	# build directory may not be ours to write to when root installs)
	thindir=
	gpvm_a=$builddir/libgpvm3.a
	fpvm_a=$builddir/libfpvm3.a
	if [ ! -f "$gpvm_a" ] || [ ! -f "$fpvm_a" ]; then
		thindir=$(mktemp -d)
		[ -f "$gpvm_a" ] || {
			sh "$srcdir/tools/mkthinlib.sh" "$thindir" gpvm3
			gpvm_a=$thindir/libgpvm3.a
		}
		[ -f "$fpvm_a" ] || {
			sh "$srcdir/tools/mkthinlib.sh" "$thindir" fpvm3
			fpvm_a=$thindir/libfpvm3.a
		}
		note "made what $builddir lacks of libgpvm3.a, libfpvm3.a (empty archives: the code is in libpvm3; 'make build' makes them too)"
	fi
	[ -f "$srcdir/include/fpvm3.h" ] || note "note: $srcdir/include/fpvm3.h absent: not installed"

	if [ ! -d "$base" ]; then
		mkdir -p -- "$base"
	fi
	tpl=$srcdir/tools/pvm-root
	# if a step fails, what was installed so far is still listed, so that
	# uninstall can remove it
	trap 'if [ -n "$new_entries" ]; then write_manifest; fi; if [ -n "$thindir" ]; then rm -rf -- "$thindir"; fi' EXIT

	# optional: put_opt SRC REL MODE installs SRC only if it exists
	put_opt() {
		if [ -f "$1" ]; then put "$@"; fi
	}

	if [ "$mode" = root ]; then
		note "installing pvm6 into the PVM_ROOT tree $base"
		put "$srcdir/include/pvm3.h" include/pvm3.h 644
		put_opt "$srcdir/include/fpvm3.h" include/fpvm3.h 644
		put "$srcdir/include/pvmproto.h" include/pvmproto.h 644
		put "$srcdir/include/pvmtev.h" include/pvmtev.h 644
		put "$builddir/libpvm3.a" "lib/$ARCH/libpvm3.a" 644
		put "$gpvm_a" "lib/$ARCH/libgpvm3.a" 644
		put "$fpvm_a" "lib/$ARCH/libfpvm3.a" 644
		put "$builddir/pvmd3" "lib/$ARCH/pvmd3" 755
		put "$tpl/pvmd" lib/pvmd 755
		put "$tpl/pvmgetarch" lib/pvmgetarch 755
		put "$tpl/aimk" lib/aimk 755
		if [ -f "$builddir/pvm" ]; then
			put "$builddir/pvm" "console/$ARCH/pvm" 755
			put "$tpl/pvm" lib/pvm 755
			put "$srcdir/man/pvm.1" man/man1/pvm.1 644
		fi
		ensure_dir "bin/$ARCH"
		put_opt "$builddir/pvmgs" "bin/$ARCH/pvmgs" 755
		# the trace file to timeline/picture converter (docs/TRACING.md)
		put_opt "$builddir/pvmtrace" "bin/$ARCH/pvmtrace" 755
		put "$tpl/$ARCH.def" "conf/$ARCH.def" 644
		put "$srcdir/man/pvmd3.1" man/man1/pvmd3.1 644
	else
		note "installing pvm6 under the prefix $base"
		put "$srcdir/include/pvm3.h" include/pvm3.h 644
		put_opt "$srcdir/include/fpvm3.h" include/fpvm3.h 644
		put "$srcdir/include/pvmproto.h" include/pvmproto.h 644
		put "$srcdir/include/pvmtev.h" include/pvmtev.h 644
		put "$builddir/libpvm3.so" "lib/libpvm3.so.$API_VERSION" 755
		put_link "libpvm3.so.$API_VERSION" lib/libpvm3.so.3
		put_link libpvm3.so.3 lib/libpvm3.so
		put "$builddir/libpvm3.a" lib/libpvm3.a 644
		gso=
		for f in libgpvm3.so.3 libgpvm3.so; do
			if [ -z "$gso" ] && [ -f "$builddir/$f" ]; then gso=$builddir/$f; fi
		done
		if [ -n "$gso" ]; then
			put "$gso" "lib/libgpvm3.so.$API_VERSION" 755
			put_link "libgpvm3.so.$API_VERSION" lib/libgpvm3.so.3
			put_link libgpvm3.so.3 lib/libgpvm3.so
		fi
		put "$gpvm_a" lib/libgpvm3.a 644
		put "$fpvm_a" lib/libfpvm3.a 644
		put "$builddir/pvmd3" bin/pvmd3 755
		put "$tpl/pvmgetarch" bin/pvmgetarch 755
		if [ -f "$builddir/pvm" ]; then
			put "$builddir/pvm" bin/pvm 755
			put "$srcdir/man/pvm.1" share/man/man1/pvm.1 644
		fi
		put_opt "$builddir/pvmgs" bin/pvmgs 755
		put_opt "$builddir/pvmtrace" bin/pvmtrace 755
		pc=$(mktemp)
		sed -e "s|@PREFIX@|$root|g" -e "s|@VERSION@|$API_VERSION|g" \
			-e "s|@NATIVE_LIBS@|$NATIVE_LIBS|g" "$srcdir/tools/pvm3.pc.in" >"$pc"
		put "$pc" lib/pkgconfig/pvm3.pc 644
		rm -f -- "$pc"
		put "$srcdir/man/pvmd3.1" share/man/man1/pvmd3.1 644
	fi
	write_manifest
	new_entries=
	trap - EXIT
	if [ -n "$thindir" ]; then rm -rf -- "$thindir"; fi
	note "manifest: $manifest"
	run_ldconfig
}

# ---------------------------------------------------------------- uninstall

do_uninstall() {
	[ -f "$manifest" ] || die "no pvm6 install manifest at $manifest: nothing to uninstall"
	note "removing pvm6 from $base"
	# files and links
	while read -r kind rel; do
		case $kind in
		file | link)
			if [ -L "$base/$rel" ] || [ -f "$base/$rel" ]; then
				rm -f -- "$base/$rel"
			fi
			;;
		esac
	done <"$manifest"
	# the files moved aside go back
	while read -r kind rel; do
		if [ "$kind" = saved ] && { [ -e "$replaced/$rel" ] || [ -L "$replaced/$rel" ]; }; then
			mv -f -- "$replaced/$rel" "$base/$rel"
			note "restored $base/$rel"
		fi
	done <"$manifest"
	dirs=$(awk '$1 == "dir" { print $2 }' "$manifest")
	rm -f -- "$manifest"
	# empty directories left in replaced/, deepest first
	if [ -d "$replaced" ]; then
		find "$replaced" -depth -type d -exec rmdir {} \; 2>/dev/null || true
	fi
	# the directories install created, deepest first, if nothing else is in them
	printf '%s\n' "$dirs" | awk 'NF { l[n++] = $0 } END { while (n) print l[--n] }' |
		while read -r rel; do
			if [ -d "$base/$rel" ]; then
				rmdir -- "$base/$rel" 2>/dev/null ||
					note "kept $base/$rel: it holds files that pvm6 did not install"
			fi
		done
	run_ldconfig
}

case $action in
install) do_install ;;
uninstall) do_uninstall ;;
esac
