#!/bin/sh
# Install Debian's chromium for the upload page's browser test, when it is missing.
# Playwright drives /usr/bin/chromium; it never downloads a browser of its own.
# Usage: scripts/install-browser.sh   (needs root or sudo; a no-op when chromium is present)
set -eu

BROWSER=/usr/bin/chromium

if [ -x "$BROWSER" ]; then
    echo "install-browser: $BROWSER already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install chromium so that $BROWSER exists" >&2
    exit 1
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO="sudo"
    else
        echo "install-browser: need root (or sudo) to apt-get install chromium" >&2
        exit 1
    fi
fi

echo "install-browser: installing Debian chromium with apt-get"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium

if [ ! -x "$BROWSER" ]; then
    echo "install-browser: apt-get finished but $BROWSER is missing" >&2
    exit 1
fi
echo "install-browser: $("$BROWSER" --version 2>/dev/null || echo chromium) installed"
