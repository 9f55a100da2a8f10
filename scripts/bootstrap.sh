#!/usr/bin/env bash
# Set up a Debian 12 machine for tap2pkg: the packaging tools from Debian (as root, or
# through sudo), then tap2pkg and its test dependencies in ./.venv.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(
    dpkg-dev debhelper fakeroot lintian   # Debian source packages, dh, lint
    rpm rpmlint                           # rpmbuild, rpmlint, rpmsign
    gnupg                                 # --sign
    dput reprepro                         # tests: the upload set is accepted
    python3-twisted                       # twistd3: --check, fixtures, end-to-end tests
    debootstrap                           # the lifecycle tests' Debian roots
    systemd-container util-linux          # systemd-nspawn, nsenter: roots booted under systemd
    debian-archive-keyring                # trixie's keys, for the Debian 13 root
    dh-python binutils                    # dh-python's name mapping; strip for --bundle
    python3-venv python3-pip ca-certificates
)
missing=()
for pkg in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
        "${missing[@]}"
fi

python=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
echo "tap2pkg is set up: .venv/bin/tap2deb, .venv/bin/tap2rpm, .venv/bin/tap2pkg"
