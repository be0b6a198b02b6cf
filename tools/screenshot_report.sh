#!/usr/bin/env bash
# Screenshot a report page with headless Chromium (Debian's `chromium`), no network needed.
#   tools/screenshot_report.sh runs/quickstart/report.html report.png
set -euo pipefail
page=$(realpath "$1"); out=${2:-report.png}
chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
  --user-data-dir="$(mktemp -d)" --window-size=1280,2400 --virtual-time-budget=5000 \
  --screenshot="$(realpath -m "$out")" "file://$page" 2>/dev/null
echo "wrote $out"
