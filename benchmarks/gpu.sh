#!/usr/bin/env bash
# The layer and whole-network benchmarks on a CUDA machine, for all three backends, as JSON.
#
#   [BACKENDS="jax torch"] bash benchmarks/gpu.sh [OUTPUT_DIR] [--quick]
#
# Needs a Python with this package and CUDA builds of TensorFlow, JAX and PyTorch
# (e.g. `pip install -e . "tensorflow[and-cuda]" "jax[cuda12]" torch`). Each backend runs in
# its own process with Keras' defaults there: TensorFlow compiles with XLA on a GPU
# (`jit_compile="auto"`), JAX jits, PyTorch runs eagerly. A backend that sees no GPU stops
# the script: CPU numbers under GPU names would mislead. Writes
# OUTPUT_DIR/{layers,small,networks}-BACKEND.json (default OUTPUT_DIR: benchmarks/gpu);
# `python benchmarks/bench_networks.py --table OUTPUT_DIR/networks-BACKEND.json` prints a table.
# --quick: three points of the layer grid and 3 rounds everywhere (a smoke run).
# REPEATS: timed rounds (default 7, --quick 3). BACKENDS: the backends to run (default:
# all three); a machine without TensorFlow's CUDA build runs the other two. Every backend's
# GPU is checked first; then each benchmark runs on every backend, networks first, so a run
# cut short by a time limit keeps the fixed cost's measure on each.
set -euo pipefail
cd "$(dirname "$0")"
out="${1:-gpu}"
quick="${2:-}"
mkdir -p "$out"
export TF_CPP_MIN_LOG_LEVEL=3 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

repeats=7
layer_args=()
if [ "$quick" = "--quick" ]; then
    repeats=3
    layer_args=(--quick)
fi
repeats="${REPEATS:-$repeats}"  # REPEATS: the timed rounds, overriding both defaults
backends=(${BACKENDS:-tensorflow jax torch})
for backend in "${backends[@]}"; do
    KERAS_BACKEND="$backend" python - <<'PY'
import keras

backend = keras.backend.backend()
if backend == "tensorflow":
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
elif backend == "jax":
    import jax
    gpus = [d for d in jax.devices() if d.platform == "gpu"]
else:
    import torch
    gpus = [torch.cuda.get_device_name(0)] if torch.cuda.is_available() else []
if not gpus:
    raise SystemExit(f"gpu.sh: the {backend} backend sees no GPU; install its CUDA build")
print(f"{backend}: {gpus}")
PY
done
for backend in "${backends[@]}"; do
    KERAS_BACKEND="$backend" python bench_networks.py --repeats "$repeats" --json "$out/networks-$backend.json"
done
for backend in "${backends[@]}"; do
    KERAS_BACKEND="$backend" python bench_layers.py --small --repeats "$repeats" --json "$out/small-$backend.json"
done
for backend in "${backends[@]}"; do
    KERAS_BACKEND="$backend" python bench_layers.py "${layer_args[@]}" --repeats "$repeats" --json "$out/layers-$backend.json"
done
