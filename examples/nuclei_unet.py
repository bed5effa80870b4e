"""Classical vs Gaussian-derivative U-net vs an Otsu threshold, on nuclei (offline).

Two data sets: rendered nuclei with exact masks (`load_synthetic_nuclei`) and
scikit-image's IHC image split into disjoint regions with pseudo ground truth
(`load_nuclei`). Each network's learning rate is chosen on validation, every
seed keeps its best-on-validation weights, test metrics are mean ± std over
seeds. Same as `keras-gaussconv unet`.

Run: `python examples/nuclei_unet.py [--quick | --smoke] [--output-dir DIR]`
"""

import argparse

from keras_gaussconv_cli.experiments import nuclei_demo, segmentation_table


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    scale = parser.add_mutually_exclusive_group()
    scale.add_argument("--quick", action="store_const", dest="scale", const="quick", default="full")
    scale.add_argument("--smoke", action="store_const", dest="scale", const="smoke")
    parser.add_argument("--output-dir", default="keras-gaussconv-results")
    args = parser.parse_args()
    print(segmentation_table(nuclei_demo(args.output_dir, scale=args.scale)))


if __name__ == "__main__":
    main()
