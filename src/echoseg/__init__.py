"""echoseg: semi-supervised left-ventricle segmentation in echocardiography videos (SSCF)."""

__version__ = "0.1.0"
