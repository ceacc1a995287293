#!/usr/bin/env bash
# The fetch-floor benchmark, in one command (see README.md next to this file):
#
#   benches/fetch_floor/run.sh            # the issue's sizes: 200k and 2M posts, 20 x 10k
#   benches/fetch_floor/run.sh --quick    # 20k and 200k posts, 20 x 1k
#
# Builds chorus (release), installs nginx (Debian package) and dlt (a venv under the work
# folder) when missing, generates the pages once, and prints the report table.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
for arg in "$@"; do
  case "$arg" in
    --quick) export BENCH_QUICK=1 ;;
    --no-dlt) export BENCH_SKIP_DLT=1 ;;
    -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (try --quick, --no-dlt)" >&2; exit 2 ;;
  esac
done
export BENCH_WORK="${BENCH_WORK:-${TMPDIR:-/tmp}/chorus-bench}"
mkdir -p "$BENCH_WORK"

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  echo "[bench] installing nginx" >&2
  apt-get install -y nginx >/dev/null || { apt-get update >/dev/null && apt-get install -y nginx >/dev/null; }
fi
command -v curl >/dev/null || apt-get install -y curl >/dev/null

if [ -z "${CHORUS_BIN:-}" ]; then
  echo "[bench] building chorus (release)" >&2
  (cd "$repo" && cargo build --release --locked -q -p chorus-cli)
  target="${CARGO_TARGET_DIR:-$(cd "$repo" && cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')}"
  export CHORUS_BIN="$target/release/chorus"
fi

if [ -z "${BENCH_SKIP_DLT:-}" ]; then
  venv="$BENCH_WORK/venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import dlt, pyarrow' 2>/dev/null; then
    echo "[bench] installing dlt[parquet] into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q "dlt[parquet]" requests
  fi
  export BENCH_PYTHON="$venv/bin/python"
fi

exec python3 "$here/bench.py"
