#!/usr/bin/env bash
# Install Debian's Chromium for the dashboard's browser test when it is missing (root on the CI machine).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then echo "chromium missing and not root: the browser test will fail under CI" >&2; exit 0; fi
apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
