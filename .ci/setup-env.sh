#!/bin/sh
# Creates the project's virtual environment from nothing but Python, pip and gcc.
# Order matters: torch's CPU wheel goes in first, so that the project's torch range
# is already satisfied and pip never resolves a multi-GB CUDA build.
set -eu

# --browser: only Debian's Chromium, which the web page's browser tests drive (never a
# downloaded browser). 131 packages and root: `make test` asks for it, `make demo` not.
if [ "${1:-}" = "--browser" ]; then
    if ! [ -x /usr/bin/chromium ]; then
        echo "setup: installing chromium and chromium-driver (the web page's browser tests)"
        SUDO=""
        [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium chromium-driver
    fi
    exit 0
fi
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

# libp2p compiles fastecdsa, which needs the GMP headers.
if ! [ -e /usr/include/gmp.h ] && ! ls /usr/include/*/gmp.h >/dev/null 2>&1; then
    echo "setup: installing libgmp-dev (needed to build fastecdsa for libp2p)"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && $SUDO apt-get install -y -qq libgmp-dev
fi

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q "torch==2.13.0"
"$VENV/bin/python" -m pip install -q -e ".[test,text,demo]"
echo "setup: done ($VENV)"
