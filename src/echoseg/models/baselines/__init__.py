"""The paper's competitors (Wu et al. 2022, section 4.4, Tables 3, 4, 6, 7) and two public EchoNet
anchors, as registered models: one module per method, each citing its paper and listing its
simplifications. Importing this package registers them all.

| name                | method (paper)                                   | frames it reads (window centred on t) |
|---------------------|--------------------------------------------------|---------------------------------------|
| `dff`               | Deep Feature Flow (Zhu et al. 2017)              | key t-r, current t                    |
| `accel`             | Accel (Jain et al. 2019)                         | t-r .. t, flow frame to frame         |
| `tdnet`             | TDNet (Hu et al. 2020)                           | t-r .. t, one sub-network each        |
| `joint_motion`      | Qin et al. 2018                                  | t (+ neighbours for the motion loss)  |
| `clstm`             | Bai et al. 2018 (C-LSTM)                         | t-r .. t through a ConvLSTM           |
| `mfp_net`           | MFP-Unet (Moradi et al. 2019)                    | t                                     |
| `joint_net`         | Ta et al. 2020                                   | t and every neighbour                 |
| `transunet`         | TransUNet (Chen et al. 2021)                     | t                                     |
| `planet`            | PLANet (Liu et al. 2021)                         | t                                     |
| `echonet_deeplabv3` | EchoNet-Dynamic's DeepLabV3 (Ouyang et al. 2020) | t                                     |
| `simlvseg3d`        | SimLVSeg-3D (Maani et al. 2023)                  | t-r .. t+r as a 3D clip               |
"""

from echoseg.models.baselines import (  # noqa: F401  (imported to register the models)
    accel,
    clstm,
    deeplabv3,
    dff,
    joint_motion,
    joint_net,
    mfp_net,
    planet,
    simlvseg3d,
    tdnet,
    transunet,
)

BASELINES = ("dff", "accel", "tdnet", "joint_motion", "clstm", "mfp_net", "joint_net", "transunet", "planet",
             "echonet_deeplabv3", "simlvseg3d")
