"""`python -m keras_gaussconv_cli`: the `keras-gaussconv` command's own `main`."""

import sys

from keras_gaussconv_cli import main

sys.exit(main())
