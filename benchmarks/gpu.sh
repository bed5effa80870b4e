#!/usr/bin/env bash
# The GPU benchmarks on JAX and PyTorch in one call: whole networks, the fixed-cost layer
# grid and the operation counts (benchmarks/gpu_run.py), as JSON.
#
#   bash benchmarks/gpu.sh [--dry-run] [OUTPUT_DIR]
#
# Made for a lent GPU machine: CUDA builds of JAX and PyTorch for Python 3.12, no Keras, no
# TensorFlow, no package registry. Keras, the two small dependencies that machine lacks and
# this package travel with the tree as wheels in WHEELS (default: .whl at the repository
# root, which git ignores; `bash benchmarks/gpu_wheels.sh` downloads and builds them);
# they are installed without an index into a private folder put first on PYTHONPATH. Where
# WHEELS holds no wheel the active Python's packages serve (a machine set up by hand).
#
# OUTPUT_DIR: default $OUT where set (the folder a device call brings back), else
# benchmarks/gpu. Writes OUTPUT_DIR/{networks,small,counts}-BACKEND.json; `python
# benchmarks/bench_networks.py --table OUTPUT_DIR/networks-BACKEND.json` prints a table.
# Every backend's GPU is checked before anything runs (CPU numbers under GPU names would
# mislead). BACKENDS (default "jax torch"), REPEATS (timed rounds, default 7) and LIMIT
# (seconds per backend, default 210: both fit an 8-minute call; the JSON of every part
# finished by then is kept) override the defaults.
# --dry-run: the same steps on the CPU with the smallest shapes and one round, a check that
# the script works (the test suite runs it, so it cannot rot); its numbers mean nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dry=()
out=""
for arg in "$@"; do
    case "$arg" in
        --dry-run) dry=(--dry-run) ;;
        -*) echo "gpu.sh: unknown option $arg (usage: gpu.sh [--dry-run] [OUTPUT_DIR])" >&2; exit 2 ;;
        *) out="$arg" ;;
    esac
done
out="${out:-${OUT:-$here/gpu}}"
mkdir -p "$out"
wheels="${WHEELS:-$here/../.whl}"
repeats="${REPEATS:-7}"
limit="${LIMIT:-210}"
backends=(${BACKENDS:-jax torch})
if [ ${#dry[@]} -gt 0 ]; then
    repeats=1
fi
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
python=python3
command -v "$python" > /dev/null || python=python

if ! compgen -G "$wheels/*.whl" > /dev/null; then
    echo "gpu.sh: no wheels in $wheels: the active Python's packages serve"
elif [ ${#dry[@]} -gt 0 ]; then  # wheels for the device's Python 3.12: checked as a set, not installed here
    "$python" -m pip install -q --dry-run --no-index --no-deps --target "$(mktemp -d)" --python-version 3.12 \
        --implementation cp --only-binary=:all: --platform manylinux_2_28_x86_64 "$wheels"/*.whl
    echo "gpu.sh: the wheels in $wheels install on Python 3.12; the dry run uses the active Python's packages"
else
    site="$(mktemp -d)"
    "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$site" "$wheels"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    echo "gpu.sh: installed $(cd "$wheels" && echo *.whl)"
fi
if [ ${#dry[@]} -eq 0 ]; then
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
fi
cd "$here"
for backend in "${backends[@]}"; do  # every GPU first, by the backend's own import: nothing runs if one lacks it
    case "$backend" in
        jax) check='import jax; found = [str(d) for d in jax.devices() if d.platform == "gpu"]' ;;
        torch) check='import torch; found = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]' ;;
        tensorflow) check='import tensorflow as tf; found = [d.name for d in tf.config.list_physical_devices("GPU")]' ;;
        *) echo "gpu.sh: unknown backend $backend (BACKENDS: jax, torch, tensorflow)" >&2; exit 2 ;;
    esac
    "$python" -c "$check
print('$backend sees', found or 'no GPU')
if not found and not $([ ${#dry[@]} -gt 0 ] && echo True || echo False):
    raise SystemExit('gpu.sh: the $backend backend sees no GPU: install its CUDA build (CPU numbers under GPU names would mislead)')"
done
status=0
for backend in "${backends[@]}"; do
    KERAS_BACKEND="$backend" timeout "$limit" "$python" gpu_run.py --repeats "$repeats" "${dry[@]}" --out "$out" \
        || { status=$?; echo "gpu.sh: $backend stopped with status $status (124: its $limit s ran out)" >&2; }
done
ls "$out"
exit $status
