#!/usr/bin/env bash
# Run the Python peers (tensorstore, acquire-zarr, Python ome-writers' backends) and
# our `omew` side by side on the issue-6 workloads; prints a Markdown table.
#
#   benches/run_peers.sh                                   # full size: 256 x 2048x2048
#   benches/run_peers.sh --frames 32 --size 1024           # quick
#   benches/run_peers.sh --markdown target/peers.md --json target/peers.json
#   benches/run_peers.sh --workloads w1,w2 --writers omew,tensorstore
#
# Makes (or reuses) a venv at target/peers-venv (PEERS_VENV=... to move it; PYTHON=...
# for the interpreter, >= 3.11) from PyPI with benches/requirements-peers.txt, builds
# target/release/omew when cargo is there (OMEW_SKIP_BUILD=1 to skip), then runs
# benches/peers.py with the arguments given.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV="${PEERS_VENV:-$REPO/target/peers-venv}"
REQS="$HERE/requirements-peers.txt"
BASE_PY="${PYTHON:-python3}"

"$BASE_PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || { echo "run_peers.sh: need Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }

mkdir -p "$(dirname "$VENV")"
want="$("$BASE_PY" -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$REQS")"
VPY="$VENV/bin/python"
if ! [ -x "$VPY" ] || [ "$(cat "$VENV/.peers-requirements.sha256" 2>/dev/null)" != "$want" ]; then
    echo "run_peers.sh: preparing $VENV" >&2
    [ -x "$VPY" ] || "$BASE_PY" -m venv "$VENV"
    "$VPY" -m pip install --quiet --upgrade pip >&2 || true
    complete=1
    if ! "$VPY" -m pip install --quiet -r "$REQS" >&2; then
        echo "run_peers.sh: installing all at once failed; trying one by one" >&2
        while read -r req; do
            if ! "$VPY" -m pip install --quiet "$req" >&2; then
                echo "run_peers.sh: could not install $req (its peers will be 'unavailable')" >&2
                complete=0
            fi
        done < <(grep -Ev '^[[:space:]]*(#|$)' "$REQS")
    fi
    # stamp only a complete install, so that a failed one is retried next time
    if [ "$complete" = 1 ]; then echo "$want" > "$VENV/.peers-requirements.sha256"; fi
fi

if [ -z "${OMEW_SKIP_BUILD:-}" ] && command -v cargo >/dev/null 2>&1; then
    (cd "$REPO" && cargo build --release -p omew >&2) \
        || echo "run_peers.sh: cargo build failed; omew rows use the existing binary or are 'unavailable'" >&2
fi

if [ -z "${OMEW_SKIP_BUILD:-}" ]; then
    # the omew-python writer: our Python package, built in release mode by pip/maturin
    "$VPY" -m pip install --quiet "$REPO/python" >&2 \
        || echo "run_peers.sh: pip install ./python failed; omew-python rows are 'unavailable'" >&2
fi

exec "$VPY" "$HERE/peers.py" "$@"
