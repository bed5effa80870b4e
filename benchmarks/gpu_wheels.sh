#!/usr/bin/env bash
# Wheels for benchmarks/gpu.sh on a GPU machine that has CUDA builds of JAX and PyTorch for
# Python 3.12 but no Keras and no package registry: Keras (this environment's version), the
# two of its dependencies that such a machine lacks (namex, optree: absl-py, h5py,
# ml-dtypes, numpy, packaging and rich are there) and this package, built from the tree.
#
#   bash benchmarks/gpu_wheels.sh [WHEELS]     (default: .whl at the repository root, git-ignored)
#
# Then a device call carries WHEELS (`carry: [".whl"]`) and runs `bash benchmarks/gpu.sh`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
wheels="${1:-$root/.whl}"
mkdir -p "$wheels"
keras_version="$(python -c 'import keras; print(keras.__version__)')"
optree_version="$(python -c 'import importlib.metadata as m; print(m.version("optree"))')"
python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    -d "$wheels" "keras==$keras_version" "namex" "optree==$optree_version"
python -m pip wheel --quiet --no-deps --wheel-dir "$wheels" "$root"
ls -l "$wheels"
