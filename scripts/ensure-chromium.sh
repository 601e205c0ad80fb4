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
echo "installing Chromium (Debian package chromium) for the Swagger UI browser test"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq chromium >/dev/null || apt-get install -y -qq chromium-browser >/dev/null
