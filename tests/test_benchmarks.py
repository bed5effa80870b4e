"""The GPU benchmark script runs (its dry run, on the CPU), and the XLA kernel count reads HLO right.

Not a core module: the dry run starts JAX and PyTorch processes of its own whatever the pass' backend,
so it runs once, in the PyTorch pass (marker `torch_pass`), which has the time to spare.
"""

import importlib
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def gpu_sh(*args, wheels):
    # An empty WHEELS: the dry run uses this environment's packages, whatever lies in .whl here.
    env = {**os.environ, "WHEELS": str(wheels), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["bash", str(BENCHMARKS / "gpu.sh"), *map(str, args)], env=env, capture_output=True, text=True)


@pytest.mark.torch_pass
def test_gpu_sh_dry_run_writes_every_part(tmp_path):
    result = gpu_sh("--dry-run", tmp_path / "out", wheels=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == [f"{part}-{backend}.json" for part in ("counts", "networks", "small") for backend in ("jax", "torch")]
    for backend in ("jax", "torch"):
        networks = json.loads((tmp_path / "out" / f"networks-{backend}.json").read_text())
        assert networks["backend"] == backend and len(networks["results"]) == 1
        seconds = networks["results"][0]["seconds"]
        assert set(seconds) == {"structured", "stock"} and all(t > 0 for s in seconds.values() for t in s.values())
        small = json.loads((tmp_path / "out" / f"small-{backend}.json").read_text())
        assert {"Conv2D", "kernel", "basis", "fft", "auto"} <= set(small["results"][0]["seconds"])
    aten = json.loads((tmp_path / "out" / "counts-torch.json").read_text())["aten_ops"]
    assert aten["GaussianDerivativeConv2D, kernel path"] > aten["Conv2D"] > 0
    xla = json.loads((tmp_path / "out" / "counts-jax.json").read_text())["xla_kernels"]
    pair = next(iter(xla.values()))
    assert pair["structured"]["kernels"] > 0 and pair["stock"]["kernels"] > 0
    assert "sees no GPU" not in result.stderr  # a dry run does not refuse the CPU


def test_gpu_sh_refuses_an_unknown_option(tmp_path):
    result = gpu_sh("--quick", wheels=tmp_path)
    assert result.returncode == 2 and "unknown option --quick" in result.stderr


HLO = """HloModule jit_step, entry_computation_layout={(f32[2,3]{1,0})->f32[2,3]{1,0}}

%fused_computation (param_0: f32[2,3]) -> f32[2,3] {
  %param_0 = f32[2,3]{1,0} parameter(0)
  %exponential = f32[2,3]{1,0} exponential(f32[2,3]{1,0} %param_0)
  ROOT %multiply = f32[2,3]{1,0} multiply(f32[2,3]{1,0} %exponential, f32[2,3]{1,0} %param_0)
}

ENTRY %main (Arg_0: f32[2,3]) -> (f32[2,3], f32[3]) {
  %Arg_0 = f32[2,3]{1,0} parameter(0)
  %constant = f32[] constant(0)
  %fusion = f32[2,3]{1,0} fusion(f32[2,3]{1,0} %Arg_0), kind=kLoop, calls=%fused_computation
  %custom-call = (f32[2,3]{1,0}, u8[0]{0}) custom-call(f32[2,3]{1,0} %fusion), custom_call_target="__cudnn$convForward"
  %get-tuple-element = f32[2,3]{1,0} get-tuple-element((f32[2,3]{1,0}, u8[0]{0}) %custom-call), index=0
  %bitcast = f32[6]{0} bitcast(f32[2,3]{1,0} %get-tuple-element)
  %reduce = f32[3]{0} reduce(f32[2,3]{1,0} %get-tuple-element, f32[] %constant), dimensions={0}, to_apply=%add
  ROOT %tuple = (f32[2,3]{1,0}, f32[3]{0}) tuple(f32[2,3]{1,0} %get-tuple-element, f32[3]{0} %reduce)
}
"""


def benchmark_module(name):
    """The script `benchmarks/<name>.py` imported as a module (the benchmarks are no package)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        with warnings.catch_warnings():  # bench_layers' import filters a warning: kept to this block
            return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def test_xla_kernels_are_the_entry_computations_launched_instructions():
    count_xla = benchmark_module("count_xla")
    # The fusion's body is not counted again; parameters, constants, tuples and views launch nothing.
    assert count_xla.kernels(HLO) == {"fusion": 1, "custom-call": 1, "reduce": 1}
    with pytest.raises(ValueError, match="no ENTRY computation"):
        count_xla.kernels(HLO.split("ENTRY")[0])


def test_the_ablation_freezes_exactly_the_geometric_weights_wrappers_included():
    from keras_gaussconv.models import gaussian_unet, scale_channel_unet

    bench_networks = benchmark_module("bench_networks")
    # The U-net's layers sit in `ConvNormAct`, the scale-channel U-net's in `ScaleChannels` as well
    # (whose layers are the discrete analogue by default, with σ as their only geometric weight).
    models = {("offset", "sigma", "theta"): gaussian_unet((16, 16, 3), 1, depth=1),
              ("sigma",): scale_channel_unet((16, 16, 3), 1, depth=1, scales=(1.0, 2.0))}
    for geometric, model in models.items():
        before = {id(v): v.path for v in model.trainable_variables}
        bench_networks.frozen_geometry(model)
        after = {id(v) for v in model.trainable_variables}
        frozen = [path.rsplit("/", 1)[-1] for key, path in before.items() if key not in after]
        assert sorted(set(frozen)) == list(geometric) and len(frozen) == 6 * len(geometric), frozen  # 6 layers
        assert sum(v.path.endswith("coefficients") for v in model.trainable_variables) == 6
