"""The `keras-gaussconv` command: the demo, the U-net comparison, export and basis pictures.

A top-level module rather than part of the package: importing `keras_gaussconv`
imports TensorFlow, whose start-up logging cannot be silenced, so arguments are
parsed and checked first and the package is imported only to run a command —
a mistyped command gets a one-line error and nothing else.
"""

import argparse
import os
import sys
from pathlib import Path


# keras_gaussconv.models.LAYER_TYPES without the basis-free "free_form" (kept
# literal so that parsing needs no TensorFlow; a test checks they agree).
PLOTTABLE = ("rfnn", "dau", "gaussian", "gaussian_few", "gaussian_separable", "gabor")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # One line, no usage dump: "keras-gaussconv: error: ..."
        self.exit(2, f"{self.prog}: error: {message}\n")


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


def _output_dir(args):
    path = Path(args.output_dir)
    path.mkdir(parents=True, exist_ok=True)
    return path


def cmd_demo(args):
    from keras_gaussconv.experiments import demo_table, digits_demo

    output = _output_dir(args)
    results = digits_demo(output, quick=args.quick, verbose=0 if args.quiet else 1)
    print(f"\nTest accuracy (%) on scikit-learn digits, mean ± std over {len(results['settings']['seeds'])} "
          f"seeds ({results['seconds']} s):\n")
    print(demo_table(results))
    print(f"\nwrote {output / 'digits_results.md'}, {output / 'digits_results.json'}, {output / 'digits_kernels.png'}")


def cmd_unet(args):
    from keras_gaussconv.experiments import nuclei_demo

    output = _output_dir(args)
    results = nuclei_demo(output, quick=args.quick, verbose=0 if args.quiet else 1)
    print("\n| U-net | trainable params | pixel accuracy | Dice |\n|---|---|---|---|")
    for name in ("classical", "gaussian"):
        r = results[name]
        print(f"| {name} | {r['trainable_parameters']:,} | {r['pixel_accuracy']:.3f} | {r['dice']:.3f} |")
    print(f"\nwrote {output / 'nuclei_results.json'}, {output / 'nuclei_predictions.png'}")


def check_export(args):
    if not Path(args.model).is_file():
        raise CommandError(f"no such model file: {args.model}")
    if not (args.saved_model or args.tflite or args.folded):
        raise CommandError("nothing to do: give --saved-model DIR, --tflite FILE and/or --folded FILE")


def check_plot(args):
    for name in ("kernel_size", "num_bases", "filters"):
        if getattr(args, name) < 1:
            raise CommandError(f"--{name.replace('_', '-')} must be a positive integer, got {getattr(args, name)}")
    if args.order < 0:
        raise CommandError(f"--order must be >= 0, got {args.order}")


def cmd_export(args):
    model_path = Path(args.model)
    import keras

    import keras_gaussconv  # noqa: F401  (registers the layers for loading)
    from keras_gaussconv.experiments import structured_layers
    from keras_gaussconv.export import export_saved_model, export_tflite, fold

    try:
        model = keras.models.load_model(model_path)
    except Exception as error:  # corrupt or foreign files raise many types
        raise CommandError(f"could not load {model_path}: {error}") from error
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
        raise CommandError(str(error).splitlines()[0]) from error
    layer.build((None, None, None, 1))
    path = Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    plot_layer(layer, path)
    print(f"wrote {path}")


def build_parser():
    parser = _Parser(prog="keras-gaussconv", description="Trainable structured-kernel convolutions for Keras 3.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    demo = commands.add_parser("demo", help="small-data comparison on scikit-learn's bundled digits")
    unet = commands.add_parser("unet", help="classical vs Gaussian U-net on scikit-image's nuclei image")
    for sub in (demo, unet):
        sub.add_argument("--quick", action="store_true", help="a short run (a few minutes on a 2-core CPU)")
        sub.add_argument("--output-dir", default=".", help="where results and pictures go (default: .)")
        sub.add_argument("--quiet", action="store_true", help="no progress output")
    demo.set_defaults(run=cmd_demo)
    unet.set_defaults(run=cmd_unet)

    export = commands.add_parser("export", help="fold a saved model and export it")
    export.add_argument("model", help="a .keras file with keras_gaussconv layers")
    export.add_argument("--saved-model", metavar="DIR", help="write a TensorFlow SavedModel")
    export.add_argument("--tflite", metavar="FILE", help="write a TensorFlow Lite model")
    export.add_argument("--quantize", choices=["dynamic"], help="TFLite dynamic-range quantisation")
    export.add_argument("--folded", metavar="FILE", help="write the folded model as .keras (no package needed)")
    export.set_defaults(run=cmd_export, check=check_export)

    plot = commands.add_parser("plot", help="draw the basis kernels of a layer configuration")
    plot.add_argument("--layer", default="gaussian", choices=PLOTTABLE)
    plot.add_argument("--kernel-size", type=int, default=9)
    plot.add_argument("--order", type=int, default=3)
    plot.add_argument("--num-bases", type=int, default=2)
    plot.add_argument("--filters", type=int, default=8)
    plot.add_argument("--seed", type=int, default=0)
    plot.add_argument("--output", default="basis.png", help="PNG to write (default: basis.png)")
    plot.set_defaults(run=cmd_plot, check=check_plot)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        getattr(args, "check", lambda _: None)(args)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        args.run(args)
    except CommandError as error:
        print(f"keras-gaussconv: error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
