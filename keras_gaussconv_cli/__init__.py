"""The `keras-gaussconv` command: the demo, the U-net and scale comparisons, export and basis pictures.

A package beside `keras_gaussconv`, not part of it: the demo experiments
(`keras_gaussconv_cli.experiments`) are not library code, and importing
`keras_gaussconv` imports TensorFlow, whose start-up logging cannot be
silenced, so arguments are parsed and checked first and the package is
imported only to run a command — a mistyped command gets a one-line error and
nothing else.
"""

import os

# Before anything can import TensorFlow: its C++ start-up lines read this once, at import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import ast  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402


# keras_gaussconv.models.LAYER_TYPES without the basis-free "free_form" (kept
# literal so that parsing needs no TensorFlow; a test checks they agree).
PLOTTABLE = ("rfnn", "dau", "gaussian", "gaussian_few", "gaussian_separable", "gabor")
# `magnification`'s networks, named here so that parsing imports no Keras (a test keeps them equal).
MAGNIFICATION_NETWORKS = ("stock", "gaussian", "scale_channels", "image_channels", "image_selection", "jittered",
                          "own_scale")
# `scales`' networks, named here for the same reason (a test keeps them equal).
SCALE_NETWORKS = ("cnn", "gaussian", "scale_channels", "cnn_size_normalized", "size_normalized")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, no usage dump: "keras-gaussconv: error: ..."
        self.exit(2, f"{self.prog}: error: {message}\n")


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1 (2 when an argument is wrong)."""


def package_version():
    """`keras_gaussconv.__version__`, read from its source without importing it (and TensorFlow)."""
    origin = importlib.util.find_spec("keras_gaussconv").origin
    for node in ast.parse(Path(origin).read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return node.value.value
    return "unknown"


DEFAULT_OUTPUT_DIR = "keras-gaussconv-results"


def _writable_file(path, option):
    """Checks that file `path` can be written (its directory made first), before any work."""
    path = Path(path)
    _writable_dir(path.parent, option, path)
    existed = path.exists()
    try:
        with open(path, "ab"):
            pass
    except OSError as error:
        raise CommandError(f"{option} {path}: cannot write the file ({error.strerror})") from error
    if not existed:
        path.unlink()
    return path


def _writable_dir(path, option, value=None):
    """Creates directory `path` (and its parents) before any work, or says in one line why not.

    `option` and `value` name what the user gave (the directory itself, or a file in it).
    """
    path = Path(path)
    given = f"{option} {path if value is None else value}"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CommandError(f"{given}: cannot create the directory {path} ({error.strerror})") from error
    if not os.access(path, os.W_OK):
        raise CommandError(f"{given}: the directory {path} is not writable")
    return path


def check_run(args):
    _writable_dir(args.output_dir, "--output-dir")


def check_magnification(args):
    if args.test_size is not None and args.test_size < 1:
        raise CommandError(f"--test-size must be a positive integer, got {args.test_size}")
    check_run(args)


def _print_written(output, module):
    print(f"\nwrote {', '.join(str(Path(output) / name) for name in module.OUTPUTS)}")


def cmd_demo(args):
    from keras_gaussconv_cli.experiments import digits

    results = digits.digits_demo(args.output_dir, scale=args.scale, verbose=0 if args.quiet else 1)
    print(f"\n{digits.demo_caption(results)}\n")
    print(digits.demo_table(results))
    _print_written(args.output_dir, digits)


def cmd_unet(args):
    from keras_gaussconv_cli.experiments import segmentation, volumes

    verbose = 0 if args.quiet else 1
    if args.volumes:
        results = volumes.volume_demo(args.output_dir, scale=args.scale, verbose=verbose)
        print(f"\n{volumes.volume_table(results)}")
        _print_written(args.output_dir, volumes)
        return
    results = segmentation.nuclei_demo(args.output_dir, scale=args.scale, verbose=verbose)
    print(f"\n{segmentation.segmentation_table(results)}")
    _print_written(args.output_dir, segmentation)


def cmd_scales(args):
    from keras_gaussconv_cli.experiments import scales

    if args.dataset == "fashion_mnist":  # offline: one line, before any training
        from keras_gaussconv.datasets import load_fashion_mnist

        try:
            load_fashion_mnist()
        except RuntimeError as error:
            raise CommandError(_first_line(error)) from error
    results = scales.scales_demo(args.output_dir, scale=args.scale, training=args.training, verbose=0 if args.quiet else 1,
                                 dataset=args.dataset, networks=args.networks)
    print(f"\n{scales.scales_table(results)}")
    _print_written(args.output_dir, scales)


def cmd_magnification(args):
    from keras_gaussconv_cli.experiments import magnification

    if args.test_size is not None:  # a size the networks cannot take: one line, before any training
        try:
            magnification.check_test_size(args.test_size, magnification.MAGNIFICATION_SETTINGS[args.scale])
        except ValueError as error:
            raise CommandError(_first_line(error).replace("`test_size`", "--test-size")) from error
    results = magnification.magnification_demo(args.output_dir, scale=args.scale, discretization=args.discretization,
                                               networks=args.networks, test_size=args.test_size,
                                               verbose=0 if args.quiet else 1)
    print(f"\n{magnification.magnification_table(results)}")
    _print_written(args.output_dir, magnification)


def check_export(args):
    model = Path(args.model)
    if not model.is_file():
        raise CommandError(f"no such model file: {args.model}")
    if model.suffix == ".keras" and not zipfile.is_zipfile(model):
        raise CommandError(f"{args.model} is not a .keras file (a .keras file is a zip archive saved by model.save)")
    if not (args.saved_model or args.tflite or args.folded or args.onnx):
        raise CommandError("nothing to do: give --saved-model DIR, --tflite FILE, --onnx FILE and/or --folded FILE")
    if args.quantize and not args.tflite:
        raise CommandError(f"--quantize {args.quantize} applies to --tflite only: give --tflite FILE, or no --quantize")
    # Checked before the model is loaded and converted, not after.
    for option, path in (("--tflite", args.tflite), ("--folded", args.folded), ("--onnx", args.onnx)):
        if path:
            _writable_file(path, option)
    if args.saved_model:
        _writable_dir(Path(args.saved_model).parent, "--saved-model", args.saved_model)


def check_plot(args):
    for name in ("kernel_size", "num_bases", "filters"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.order < 0:
        raise CommandError(f"--order must be >= 0, got {args.order}")
    if not 0 <= args.seed < 2**32:
        raise CommandError(f"--seed must be in [0, 2**32), got {args.seed}")
    if args.filters % args.num_bases:
        raise CommandError(
            f"--num-bases must divide --filters (each basis makes filters / num_bases filters), "
            f"got --num-bases {args.num_bases} and --filters {args.filters}"
        )
    _writable_file(args.output, "--output")


def cmd_export(args):
    model_path = Path(args.model)
    import keras

    import keras_gaussconv  # noqa: F401  (registers the layers for loading)
    from keras_gaussconv.utils import structured_layers
    from keras_gaussconv.export import check_export_backend, export_onnx, export_saved_model, export_tflite, fold

    if args.saved_model or args.tflite:
        try:
            check_export_backend()
        except RuntimeError as error:
            raise CommandError(str(error)) from error
    try:
        model = keras.models.load_model(model_path)
    except Exception as error:  # corrupt or foreign files raise many types
        raise CommandError(f"could not load {model_path}: {_first_line(error)}") from error
    if not structured_layers(model):
        raise CommandError(f"{model_path} has no keras_gaussconv layers: export it with Keras directly")
    if args.folded:
        fold(model).save(args.folded)
        print(f"wrote {args.folded}")
    if args.saved_model:
        export_saved_model(model, args.saved_model)
        print(f"wrote {args.saved_model}")
    if args.tflite:
        export_tflite(model, args.tflite, quantize=args.quantize)
        print(f"wrote {args.tflite}")
    if args.onnx:
        try:
            export_onnx(model, args.onnx)
        except ImportError as error:  # a converter of the onnx extra is missing
            raise CommandError(f"{_first_line(error)} (pip install 'keras-gaussconv[onnx]')") from error
        print(f"wrote {args.onnx}")


def cmd_plot(args):
    import keras

    from keras_gaussconv.models import make_conv
    from keras_gaussconv.plotting import plot_layer

    keras.utils.set_random_seed(args.seed)
    try:
        layer = make_conv(
            args.layer, args.filters, "plotted", kernel_size=args.kernel_size, order=args.order,
            num_bases=args.num_bases,
        )
    except ValueError as error:
        raise CommandError(_first_line(error)) from error
    layer.build((None, None, None, 1))
    path = Path(args.output)
    try:
        plot_layer(layer, path)
    except OSError as error:
        raise CommandError(f"--output {path}: cannot write the file ({error.strerror or error})") from error
    print(f"wrote {path}")


def _add_parser(commands, name, help):
    # Every option's default in its help line (argparse adds "(default: …)").
    return commands.add_parser(name, help=help, description=help, formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def build_parser():
    parser = _Parser(prog="keras-gaussconv", description="Trainable structured-kernel convolutions for Keras 3.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = _add_parser(commands, "demo", "small-data comparison on scikit-learn's bundled digits")
    unet = _add_parser(commands, "unet", "classical vs Gaussian U-net vs Otsu: synthetic nuclei (exact masks) and the IHC image")
    scales = _add_parser(
        commands, "scales",
        "scale generalisation: stock CNN vs Gaussian vs size-normalised networks, digits or shapes at ×0.5 … ×4"
    )
    magnification = _add_parser(
        commands, "magnification",
        "U-nets trained at one magnification (stock, Gaussian, scale-channel; a scale-jittered stock one) tested at 0.5 … 2.83",
    )
    for sub in (demo, unet, scales, magnification):
        scale = sub.add_mutually_exclusive_group()
        scale.add_argument(
            "--quick", action="store_const", dest="scale", const="quick", default="full",
            help="a short run (a few minutes on a 2-core CPU); without it or --smoke, the full run",
        )
        scale.add_argument(
            "--smoke", action="store_const", dest="scale", const="smoke",
            help="a tiny run that checks the pipeline in seconds (its numbers mean little)",
        )
        sub.add_argument("--output-dir", default=DEFAULT_OUTPUT_DIR, help="where results and pictures go")
        sub.add_argument("--quiet", action="store_true", help="no progress output")
    unet.add_argument(
        "--volumes", action="store_true",
        help="3-D U-nets (Conv3D vs GaussianDerivativeConv3D) on rendered microscopy volumes instead",
    )
    scales.add_argument(
        "--training", choices=["1", "1-2"], action="append",
        help="train on this range: scale 1 or scales 1–2 (repeatable; None: both, with --quick and --smoke: 1)",
    )
    scales.add_argument(
        "--dataset", default="digits", choices=["digits", "shapes", "fashion_mnist"],
        help="digits (scikit-learn's, magnified), shapes (ten shapes rendered at each scale) or fashion_mnist "
             "(magnified; downloaded once by keras.datasets)",
    )
    scales.add_argument(
        "--network", dest="networks", action="append", choices=list(SCALE_NETWORKS),
        help="run only this network (repeatable; default: all but scale_channels, whose steps cost 100x more)",
    )
    magnification.add_argument(
        "--discretization", default="discrete", choices=["sampled", "normalized", "integrated", "discrete"],
        help="of the Gaussian layers of the Gaussian and the scale-channel U-nets",
    )
    magnification.add_argument(
        "--network", dest="networks", action="append", choices=list(MAGNIFICATION_NETWORKS),
        help="run only this network (repeatable; default: all)",
    )
    magnification.add_argument(
        "--test-size", type=int, metavar="PIXELS",
        help="side of the test slides (default: 96, with --quick 64; a multiple of 8): larger slides put less of "
             "each nucleus at the border",
    )
    demo.set_defaults(run=cmd_demo, check=check_run)
    unet.set_defaults(run=cmd_unet, check=check_run)
    scales.set_defaults(run=cmd_scales, check=check_run)
    magnification.set_defaults(run=cmd_magnification, check=check_magnification)

    export = _add_parser(commands, "export", "fold a saved model and export it")
    export.add_argument("model", help="a .keras file with keras_gaussconv layers (scale channels and wrappers included)")
    export.add_argument("--saved-model", metavar="DIR", help="write a TensorFlow SavedModel")
    export.add_argument("--tflite", metavar="FILE", help="write a TensorFlow Lite model")
    export.add_argument("--quantize", choices=["dynamic"], help="TFLite dynamic-range quantisation (with --tflite)")
    export.add_argument("--onnx", metavar="FILE", help="write an ONNX model (the onnx extra; any backend)")
    export.add_argument("--folded", metavar="FILE", help="write the folded model as .keras (no package needed)")
    export.set_defaults(run=cmd_export, check=check_export)

    plot = _add_parser(commands, "plot", "draw the basis kernels of a layer configuration")
    plot.add_argument("--layer", default="gaussian", choices=PLOTTABLE, help="the layer type (as the demo's)")
    plot.add_argument("--kernel-size", type=int, default=9, help="kernel size in pixels")
    plot.add_argument("--order", type=int, default=3, help="maximal derivative order K (Gaussian layers)")
    plot.add_argument("--num-bases", type=int, default=2, help="number of bases B; divides --filters")
    plot.add_argument("--filters", type=int, default=8, help="output channels; the last row draws up to 8 filters")
    plot.add_argument("--seed", type=int, default=0, help="random seed of the initial geometry, in [0, 2**32)")
    plot.add_argument("--output", default="basis.png", help="PNG to write")
    plot.set_defaults(run=cmd_plot, check=check_plot)
    return parser


def _start_backend_quietly():
    """Imports Keras and this package (starting the backend) with stderr's descriptor on /dev/null.

    TensorFlow's C++ libraries write their start-up lines (oneDNN, CUDA) before its
    logging reads TF_CPP_MIN_LOG_LEVEL (tensorflow/tensorflow#100442), so the variable
    alone does not silence them. TensorFlow (a dependency) is imported on every backend:
    `keras.utils.set_random_seed` imports it to seed it too. A failed import is re-raised
    after stderr is back.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            import keras  # noqa: F401
            import tensorflow  # noqa: F401

            import keras_gaussconv  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _first_line(error):
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        args.check(args)  # the arguments, before any backend starts: exit 2 as argparse's own errors
    except CommandError as error:
        print(f"keras-gaussconv: error: {error}", file=sys.stderr)
        return 2
    try:
        _start_backend_quietly()
        args.run(args)
    except CommandError as error:
        print(f"keras-gaussconv: error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a file that could not be written after all (disk full, ...)
        print(f"keras-gaussconv: error: {_first_line(error)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
