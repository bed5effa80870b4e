"""Classical vs Gaussian-derivative U-net on scikit-image's bundled IHC image (offline).

Masks are pseudo ground truth from colour deconvolution (see
`keras_gaussconv.datasets.load_nuclei`). Same as `keras-gaussconv unet`.

Run: `python examples/nuclei_unet.py [--quick] [--output-dir DIR]`
"""

import argparse

from keras_gaussconv.experiments import nuclei_demo


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output-dir", default=".")
    args = parser.parse_args()
    results = nuclei_demo(args.output_dir, quick=args.quick)
    for name in ("classical", "gaussian"):
        r = results[name]
        print(f"{name:9s} U-net: {r['trainable_parameters']:,} parameters, pixel accuracy "
              f"{r['pixel_accuracy']:.3f}, Dice {r['dice']:.3f}")


if __name__ == "__main__":
    main()
