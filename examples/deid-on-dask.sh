#!/usr/bin/env bash
# De-identify an archive on a Dask cluster, and check it matches a local run.
#
#   PATH=.venv/bin:$PATH bash examples/deid-on-dask.sh [OUT]
#
# Starts a throw-away cluster on this machine (a scheduler and two worker
# processes, one thread each).  On a real cluster, skip that part and pass
# your scheduler's address; SRC and DST must be on a file system every
# worker sees at the same path.
set -euo pipefail
OUT=${1:-demo-output/dask}
rm -rf "$OUT" && mkdir -p "$OUT"
export GOVKIT_HOME="$OUT/home"
KEY="$OUT/deid.key"
python -c 'import secrets; print(secrets.token_hex(32))' >"$KEY"

echo "== an archive of 400 files (copies of pydicom's CT_small, 10 patients)"
python -c "from pathlib import Path; from govkit.testing.dicom_corpus import ct_archive; ct_archive(Path('$OUT/archive'), 400, patients=10)"

echo "== a local Dask cluster: scheduler + 2 workers"
port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
dask scheduler --host 127.0.0.1 --port "$port" --no-dashboard >"$OUT/scheduler.log" 2>&1 &
pids=($!)
trap 'kill "${pids[@]}" 2>/dev/null || true' EXIT
dask worker "tcp://127.0.0.1:$port" --nworkers 2 --nthreads 1 --no-dashboard >"$OUT/workers.log" 2>&1 &
pids+=($!)
python -c "from distributed import Client; Client('tcp://127.0.0.1:$port', timeout=60).wait_for_workers(2, timeout=60)"

echo "== de-identify on the cluster"
govkit deid run "$OUT/archive" "$OUT/deid-dask" --key "$KEY" --executor dask --scheduler "tcp://127.0.0.1:$port"

echo "== the same with the local executor: the outputs must be byte-identical"
govkit deid run "$OUT/archive" "$OUT/deid-local" --key "$KEY"
diff -r -x .govkit "$OUT/deid-dask" "$OUT/deid-local" && echo "identical outputs"

echo "== verify the cluster's output against the archive"
govkit deid verify "$OUT/deid-dask" --source "$OUT/archive" --key "$KEY" --no-pixels
