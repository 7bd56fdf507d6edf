"""The numbers the SSCF paper reports (Wu et al., Medical Image Analysis 2022), for printing next to ours.

Tables 3 (EchoNet-Dynamic) and 4 (CAMUS): DC (%), HD (mm), AUC (%) as mean ± std over the 5 folds;
Table 6: EF correlation, bias and std of the difference (EF points); Table 7: GFLOPs, parameters
(M) and ms/frame on the authors' GPU (a 2080 Ti, section 3.5), input 256x256. Table 2 gives the
ablation rows (unet, baseline, baseline_tce, baseline_bssf). A method the paper leaves out of a
table has no entry there (MFP-Net is only in Table 4, Echo-Net only in Table 3, neither in 6 or 7).
Keys are our registry names.
"""

from __future__ import annotations

DISPLAY_NAMES = {
    "dff": "DFF", "accel": "Accel", "tdnet": "TDNet", "joint_motion": "Joint-motion", "clstm": "C-LSTM",
    "mfp_net": "MFP-Net", "joint_net": "Joint-net", "echonet_deeplabv3": "Echo-Net (DeepLabV3)",
    "transunet": "TransUNet", "planet": "PLANet", "sscf": "SSCF (ours in the paper)",
    "simlvseg3d": "SimLVSeg-3D", "unet": "U-Net", "baseline": "Baseline", "baseline_tce": "Baseline+TCE",
    "baseline_bssf": "Baseline+BSSF",
}

# (mean, std) pairs: dice %, hd mm, auc %
SEGMENTATION = {
    "echonet": {
        "dff": {"dice": (85.63, 0.36), "hd": (4.52, 1.19), "auc": (93.64, 0.29)},
        "accel": {"dice": (86.78, 0.41), "hd": (4.42, 1.14), "auc": (94.20, 0.37)},
        "tdnet": {"dice": (89.37, 0.35), "hd": (3.87, 0.98), "auc": (95.08, 0.24)},
        "joint_motion": {"dice": (90.97, 0.46), "hd": (3.63, 0.77), "auc": (96.75, 0.43)},
        "clstm": {"dice": (90.27, 0.25), "hd": (3.75, 0.90), "auc": (96.66, 0.37)},
        "joint_net": {"dice": (90.91, 0.36), "hd": (3.85, 0.92), "auc": (96.14, 0.39)},
        "echonet_deeplabv3": {"dice": (91.50, 0.29), "hd": (3.55, 0.73), "auc": (96.64, 0.38)},
        "transunet": {"dice": (91.76, 0.23), "hd": (3.51, 1.41), "auc": (96.85, 0.50)},
        "planet": {"dice": (91.92, 0.34), "hd": (3.42, 0.67), "auc": (97.41, 0.43)},
        "sscf": {"dice": (92.87, 0.16), "hd": (2.93, 0.72), "auc": (98.20, 0.21)},
        # Table 2 (ablation)
        "unet": {"dice": (89.34, 0.41), "hd": (4.36, 1.13), "auc": (95.21, 0.26)},
        "baseline": {"dice": (90.67, 0.22), "hd": (3.92, 0.92), "auc": (96.13, 0.19)},
        "baseline_tce": {"dice": (91.69, 0.37), "hd": (3.51, 1.18), "auc": (97.38, 0.28)},
        "baseline_bssf": {"dice": (91.33, 0.21), "hd": (3.27, 0.72), "auc": (97.15, 0.36)},
    },
    "camus": {
        "dff": {"dice": (90.48, 0.34), "hd": (3.67, 1.43), "auc": (95.90, 0.48)},
        "accel": {"dice": (90.81, 0.33), "hd": (3.76, 0.72), "auc": (95.58, 0.39)},
        "tdnet": {"dice": (90.68, 0.23), "hd": (3.36, 0.62), "auc": (96.72, 0.26)},
        "joint_motion": {"dice": (91.98, 0.23), "hd": (3.07, 1.53), "auc": (97.36, 0.31)},
        "clstm": {"dice": (91.54, 0.17), "hd": (3.34, 0.91), "auc": (97.24, 0.21)},
        "mfp_net": {"dice": (92.23, 0.29), "hd": (3.40, 0.97), "auc": (97.28, 0.23)},
        "joint_net": {"dice": (91.05, 0.27), "hd": (3.41, 0.86), "auc": (97.14, 0.25)},
        "transunet": {"dice": (91.89, 0.38), "hd": (3.25, 1.01), "auc": (97.39, 0.24)},
        "planet": {"dice": (92.61, 0.40), "hd": (3.10, 0.93), "auc": (97.58, 0.23)},
        "sscf": {"dice": (93.79, 0.26), "hd": (2.86, 0.66), "auc": (98.52, 0.23)},
        "unet": {"dice": (90.73, 0.45), "hd": (3.94, 1.07), "auc": (95.54, 0.14)},
        "baseline": {"dice": (91.81, 0.33), "hd": (3.87, 1.21), "auc": (96.68, 0.09)},
        "baseline_tce": {"dice": (92.83, 0.41), "hd": (3.49, 0.71), "auc": (97.87, 0.27)},
        "baseline_bssf": {"dice": (92.65, 0.27), "hd": (3.15, 0.87), "auc": (97.59, 0.21)},
    },
}

# Table 6: (corr, bias, std of the difference) in EF points
EJECTION_FRACTION = {
    "echonet": {"dff": (0.476, 9.2, 13.4), "accel": (0.593, 7.1, 12.3), "tdnet": (0.692, 4.6, 10.5),
                "joint_motion": (0.761, 3.1, 9.6), "clstm": (0.755, 3.3, 8.9), "joint_net": (0.796, 2.7, 7.2),
                "transunet": (0.780, 2.5, 7.6), "planet": (0.826, 2.1, 6.9), "sscf": (0.861, 1.8, 7.5)},
    "camus": {"dff": (0.715, 1.4, 8.0), "accel": (0.749, 1.1, 8.4), "tdnet": (0.773, 0.9, 7.4),
              "joint_motion": (0.823, 0.5, 5.7), "clstm": (0.801, 0.6, 7.3), "joint_net": (0.792, 0.8, 7.9),
              "transunet": (0.835, 0.5, 5.6), "planet": (0.858, 0.3, 6.1), "sscf": (0.876, 0.3, 5.3)},
}

# Table 7: GFLOPs, params (M), ms/frame (GPU, 2080 Ti)
EFFICIENCY = {
    "dff": (200.556, 27.084, 167), "accel": (204.991, 61.033, 264), "tdnet": (157.925, 23.163, 141),
    "joint_motion": (237.592, 17.315, 154), "clstm": (307.293, 21.651, 529), "joint_net": (108.318, 117.266, 62),
    "transunet": (98.518, 93.192, 46), "planet": (74.954, 20.746, 34), "sscf": (56.359, 74.798, 32),
}


def display_name(model: str) -> str:
    return DISPLAY_NAMES.get(model, model)
