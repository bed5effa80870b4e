"""Classical vs Gaussian-derivative U-net on scikit-image's bundled IHC image (offline).

Masks are pseudo ground truth from colour deconvolution (see
`keras_gaussconv.datasets.load_nuclei`). Same as `keras-gaussconv unet`.

Run: `python examples/nuclei_unet.py [--quick | --smoke] [--output-dir DIR]`
"""

import argparse

from keras_gaussconv.experiments import nuclei_demo


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_const", dest="scale", const="quick", default="full")
    scale.add_argument("--smoke", action="store_const", dest="scale", const="smoke")
    parser.add_argument("--output-dir", default="keras-gaussconv-results")
    args = parser.parse_args()
    results = nuclei_demo(args.output_dir, scale=args.scale)
    for name in ("classical", "gaussian"):
        r = results[name]
        print(f"{name:9s} U-net: {r['trainable_parameters']:,} parameters, pixel accuracy "
              f"{r['pixel_accuracy']:.3f}, Dice {r['dice']:.3f}")


if __name__ == "__main__":
    main()
