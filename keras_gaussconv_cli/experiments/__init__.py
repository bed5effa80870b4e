"""The experiments behind `keras-gaussconv demo`, `unet`, `scales` and `magnification`: one module per experiment.

`protocol` holds what they share (run sizes, data draws, fresh runs, metrics, tables); each of
`digits`, `segmentation` (2-D nuclei), `volumes` (3-D nuclei), `scales` and `magnification` holds one
experiment's settings, run, table and pictures, and its `OUTPUTS`, the files it writes.
"""

from keras_gaussconv_cli.experiments.digits import (
    DEMO_LAYER_TYPES,
    DEMO_NETWORK,
    DEMO_SETTINGS,
    demo_caption,
    demo_table,
    digits_demo,
    plot_learning_curves,
)
from keras_gaussconv_cli.experiments.magnification import (
    MAGNIFICATION_SETTINGS,
    magnification_demo,
    magnification_table,
)
from keras_gaussconv_cli.experiments.protocol import (
    BATCH,
    SCALES,
    batches,
    mean_std,
    object_f1,
    reset,
    segmentation_metrics,
    subset,
)
from keras_gaussconv_cli.experiments.scales import SCALE_NETWORKS, SCALE_SETTINGS, scales_demo, scales_table
from keras_gaussconv_cli.experiments.segmentation import (
    NUCLEI_SETTINGS,
    nuclei_demo,
    segmentation_experiment,
    segmentation_table,
    train_run,
    tuned_runs,
)
from keras_gaussconv_cli.experiments.volumes import VOLUME_SETTINGS, volume_demo, volume_table
