#!/usr/bin/env bash
# Build the example packages from fixtures/ into .build/ (Debian and RPM, every kind),
# with the lint gate on: any lintian or rpmlint error or warning stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
maintainer="tap2pkg examples <examples@tap2pkg.invalid>"
# Every kind; of the .tax files, the two that are whole applications.
APPS=(fixtures/*.tac fixtures/*.tap fixtures/*.tas fixtures/echoxml.tax fixtures/daemonxml.tax)
for app in "${APPS[@]}"; do
    echo "== $app"
    "$bin/tap2deb" --tapfile "$app" -m "$maintainer" --output-dir .build/deb --lint --force
    "$bin/tap2rpm" --tapfile "$app" -m "$maintainer" --output-dir .build/rpm --lint --force
done
echo "Example packages are in .build/deb and .build/rpm (lintian and rpmlint clean)"
