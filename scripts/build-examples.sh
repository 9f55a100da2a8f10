#!/usr/bin/env bash
# Build the example packages from fixtures/ into .build/ (Debian and RPM, every kind).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin
maintainer="tap2pkg examples <examples@tap2pkg.invalid>"
# Every kind; of the .tax files, the two that are whole applications.
APPS=(fixtures/*.tac fixtures/*.tap fixtures/*.tas fixtures/echoxml.tax fixtures/daemonxml.tax)
for app in "${APPS[@]}"; do
    echo "== $app"
    "$bin/tap2deb" --tapfile "$app" -m "$maintainer" --output-dir .build/deb
    "$bin/tap2rpm" --tapfile "$app" -m "$maintainer" --output-dir .build/rpm
done
echo "== lintian"
lintian --fail-on error,warning .build/deb/*.deb
echo "== rpmlint"
for app in "${APPS[@]}"; do
    name="twisted-$(basename "${app%.*}")"
    rpmlint -c ".build/rpm/rpmbuild/SPECS/$name.rpmlint.toml" \
        ".build/rpm/$name-1.0-1.noarch.rpm" ".build/rpm/$name-1.0-1.src.rpm" \
        | grep -v -E ': E: no-signature$|^$' || true
done
echo "Example packages are in .build/deb and .build/rpm"
