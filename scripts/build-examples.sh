#!/usr/bin/env bash
# Build the example packages from fixtures/ into .build/ (Debian and RPM, every kind).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
maintainer="tap2pkg examples <examples@tap2pkg.invalid>"
for app in fixtures/*.tac fixtures/*.tap fixtures/*.tas; do
    echo "== $app"
    "$bin/tap2deb" --tapfile "$app" -m "$maintainer" --output-dir .build/deb
    if [ -x "$bin/tap2rpm" ] && "$bin/python" -c "import tap2pkg.backends.rpm.build" 2>/dev/null; then
        "$bin/tap2rpm" --tapfile "$app" -m "$maintainer" --output-dir .build/rpm
    fi
done
echo "== lintian"
lintian --fail-on error,warning .build/deb/*.deb
echo "Example packages are in .build/deb and .build/rpm"
