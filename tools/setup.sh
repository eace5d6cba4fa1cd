#!/bin/sh
# tools/setup.sh: makes sure the machine has what `make check` needs beyond
# cargo, gcc and make: the Debian packages of tools/debian-packages and the
# rustfmt and clippy components.  `make check` and .ci/run both run it.
#
#   tools/setup.sh            install what is missing (root, Debian), else say
#                             loudly what is missing; silent when nothing is
#   tools/setup.sh --report   only say what is missing (exit 1 if anything is)
#
# As root on a machine with apt-get, the missing packages are installed after
# `apt-get update`, quietly (apt's output goes to a log that is shown only if
# it fails).  Otherwise (not root, no apt-get, or PVM6_SETUP_INSTALL=0) the
# missing packages are listed in a banner with the command that installs
# them, and the tests that need them skip with a SKIP line of their own.
# Under CI=true anything still missing is an error (exit 1): CI must run
# every test.
#
# Environment: PVM6_SETUP_INSTALL=0 never installs; PVM6_PACKAGES names
# another list; APT_GET names the apt-get command (default apt-get).

set -eu

here=$(cd -- "$(dirname -- "$0")" && pwd)
list=${PVM6_PACKAGES:-$here/debian-packages}
apt_get=${APT_GET:-apt-get}
report_only=no
case ${1:-} in
--report) report_only=yes ;;
"") ;;
*)
	echo "usage: $0 [--report]" >&2
	exit 2
	;;
esac

in_ci() {
	case ${CI:-} in
	true | 1) return 0 ;;
	*) return 1 ;;
	esac
}

# present PROOF: whether every item of PROOF (comma-separated absolute paths
# or command names) is there.
present() {
	pr_items=$(printf '%s' "$1" | tr ',' ' ')
	for pr_item in $pr_items; do
		case $pr_item in
		/*) [ -e "$pr_item" ] || return 1 ;;
		*) PATH=$PATH:/usr/sbin:/sbin command -v "$pr_item" >/dev/null 2>&1 || return 1 ;;
		esac
	done
}

# missing_lines: the lines of the list whose package is not there.
missing_lines() {
	sed -e 's/#.*//' -e '/^[[:space:]]*$/d' "$list" | while read -r pkg proof why; do
		if ! present "$proof"; then
			printf '%s\t%s\n' "$pkg" "$why"
		fi
	done
}

# rust_missing: the rustup components `make check`'s lint step needs.
rust_missing() {
	rm_out=
	cargo fmt --version >/dev/null 2>&1 || rm_out="rustfmt"
	cargo clippy --version >/dev/null 2>&1 || rm_out="$rm_out clippy"
	echo $rm_out
}

[ -r "$list" ] || {
	echo "setup.sh: cannot read the package list $list" >&2
	exit 2
}

missing=$(missing_lines)
rust=$(rust_missing)

if [ "$report_only" = yes ]; then
	if [ -z "$missing" ] && [ -z "$rust" ]; then
		echo "setup.sh: everything make check needs is installed"
		exit 0
	fi
	if [ -n "$missing" ]; then
		echo "setup.sh: missing Debian packages (and what needs them):"
		printf '%s\n' "$missing" | sed 's/\t/: /; s/^/  /'
	fi
	[ -z "$rust" ] || echo "setup.sh: missing rustup components: $rust"
	exit 1
fi

# Root with apt-get installs what is missing.
can_install() {
	[ "${PVM6_SETUP_INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ] &&
		command -v "$apt_get" >/dev/null 2>&1
}

if [ -n "$missing" ] && can_install; then
	pkgs=$(printf '%s\n' "$missing" | cut -f1 | tr '\n' ' ')
	echo "setup.sh: installing ${pkgs% } (apt-get)"
	log=$(mktemp)
	if ! DEBIAN_FRONTEND=noninteractive "$apt_get" update -qq >"$log" 2>&1 ||
		! DEBIAN_FRONTEND=noninteractive "$apt_get" install -y -qq --no-install-recommends \
			$pkgs >>"$log" 2>&1; then
		echo "setup.sh: apt-get failed:" >&2
		cat "$log" >&2
	fi
	rm -f -- "$log"
	missing=$(missing_lines)
fi

if [ -n "$rust" ] && [ "${PVM6_SETUP_INSTALL:-1}" != 0 ] && command -v rustup >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	rustup component add $rust >/dev/null 2>&1 || true
	rust=$(rust_missing)
fi

[ -z "$missing" ] && [ -z "$rust" ] && exit 0

{
	echo "################################################################"
	if [ -n "$missing" ]; then
		echo "## setup.sh: these Debian packages are missing:"
		printf '%s\n' "$missing" | sed 's/\t/: /; s/^/##   /'
		echo "## install them (as root): sh tools/setup.sh, or"
		echo "##   apt-get update && apt-get install $(printf '%s\n' "$missing" | cut -f1 | tr '\n' ' ' | sed 's/ $//')"
		echo "## the tests that need them print a SKIP line and do not run"
	fi
	if [ -n "$rust" ]; then
		echo "## setup.sh: missing rustup components: $rust"
		echo "##   rustup component add $rust   (make check's lint step needs them)"
	fi
	echo "################################################################"
} >&2
if in_ci; then
	echo "setup.sh: under CI=true every test must run: failing" >&2
	exit 1
fi
exit 0
