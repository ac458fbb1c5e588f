#!/usr/bin/env bash
# Build ome_writers_rs into a venv and run its tests (python/tests), ome-writers
# 0.3.2's own suite against it included (python/tests/ome_writers_suite fetches the
# sdist from PyPI on first use).
#
#   python/run_tests.sh                      # venv at target/py-venv, debug build
#   OMEW_PY_RELEASE=1 python/run_tests.sh    # release build
#   python/run_tests.sh -k view -x           # arguments go to pytest
#
# Installs from PyPI: maturin, and the package's [test] extra (pytest, zarr,
# tifffile, ome-types, ome-writers[tensorstore,zarr-python,tifffile]==0.3.2,
# useq-schema, pymmcore-plus). PYTHON=... picks the interpreter (>= 3.11: ome-writers'
# zarr-python backend needs it); OMEW_PY_VENV=... moves the venv.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV="${OMEW_PY_VENV:-$REPO/target/py-venv}"
BASE_PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"

"$BASE_PY" -c 'import sys; assert sys.version_info >= (3, 11), sys.version' \
    || { echo "run_tests.sh: need Python >= 3.11 (set PYTHON=...)" >&2; exit 1; }
[ -x "$VENV/bin/python" ] || "$BASE_PY" -m venv "$VENV"
VPY="$VENV/bin/python"
stamp="$VENV/.test-requirements"
want="$(sha256sum "$HERE/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "run_tests.sh: installing the test requirements into $VENV" >&2
    "$VPY" -m pip install --quiet --upgrade pip >&2
    deps="$("$VPY" -c 'import sys, tomllib; d = tomllib.load(open(sys.argv[1], "rb"))["project"]; print("\n".join(d["dependencies"] + d["optional-dependencies"]["test"]))' "$HERE/pyproject.toml")"
    # shellcheck disable=SC2086
    "$VPY" -m pip install --quiet "maturin>=1.7,<2" $(echo "$deps" | tr '\n' ' ') >&2
    echo "$want" > "$stamp"
fi

echo "run_tests.sh: building ome_writers_rs (maturin develop)" >&2
release=()
[ -n "${OMEW_PY_RELEASE:-}" ] && release=(--release)
(cd "$HERE" && VIRTUAL_ENV="$VENV" PATH="$VENV/bin:$PATH" "$VENV/bin/maturin" develop --quiet "${release[@]}" >&2)

cd "$HERE"
exec "$VPY" -m pytest tests -q -p no:cacheprovider --timeout 300 "$@"
