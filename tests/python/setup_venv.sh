#!/usr/bin/env bash
# Create (or reuse) the Python venv for the interop tests and print its python.
#
#   tests/python/setup_venv.sh                    -> venv at $REPO/target/pyenv
#   OMEW_PYENV=/some/dir tests/python/setup_venv.sh
#   PYTHON=python3.12 tests/python/setup_venv.sh  (interpreter that creates it)
#
# Idempotent: requirements are (re)installed only when requirements.txt changes
# (a hash stamp is kept inside the venv). The only line on stdout is the path
# of the venv's python executable; progress and errors go to stderr.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../.." && pwd))"
VENV="${OMEW_PYENV:-$REPO/target/pyenv}"
REQS="$HERE/requirements.txt"
BASE_PY="${PYTHON:-python3}"

venv_python() {  # POSIX layout, or Windows (git-bash) layout
    if [ -x "$VENV/Scripts/python.exe" ]; then echo "$VENV/Scripts/python.exe"
    else echo "$VENV/bin/python"; fi
}

mkdir -p "$(dirname "$VENV")"
# serialize concurrent callers (e.g. parallel cargo tests) where flock exists
if command -v flock >/dev/null 2>&1; then
    exec 9>"$VENV.lock"
    flock 9
fi

"$BASE_PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || { echo "setup_venv.sh: need Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }
want="$("$BASE_PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$REQS")"
VPY="$(venv_python)"

if [ -x "$VPY" ] && [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" = "$want" ] \
    && "$VPY" -c '' 2>/dev/null; then
    echo "$VPY"
    exit 0
fi

if [ ! -x "$VPY" ]; then
    echo "setup_venv.sh: creating venv at $VENV" >&2
    if ! "$BASE_PY" -m venv "$VENV" >&2; then
        # e.g. Debian without python3-venv: pip-less venv, filled by outer pip
        rm -rf "$VENV"
        "$BASE_PY" -m venv --without-pip "$VENV" >&2
    fi
    VPY="$(venv_python)"
fi

echo "setup_venv.sh: installing $REQS" >&2
if "$VPY" -m pip --version >/dev/null 2>&1; then
    "$VPY" -m pip install -q --disable-pip-version-check -r "$REQS" >&2
else
    "$BASE_PY" -m pip --python "$VPY" install -q --disable-pip-version-check -r "$REQS" >&2
fi
echo "$want" >"$VENV/.requirements.sha256"
echo "$VPY"
