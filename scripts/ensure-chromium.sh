#!/usr/bin/env bash
# Make sure a headless Chromium is present for the Swagger UI browser test; install Debian's chromium
# package when it is not (needs root, as on CI). Without root and without a browser the test is skipped
# with the reason, and this says how to install one.
set -euo pipefail
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then
    exit 0
  fi
done
if [ "$(id -u)" -ne 0 ]; then
  echo "no Chromium found: install the chromium package (Debian/Ubuntu) to run the Swagger UI browser test." >&2
  exit 0
fi
. "$(dirname "$0")/apt-install.sh"
apt_install "installing Chromium (Debian package chromium) for the Swagger UI browser test" chromium chromium-browser
