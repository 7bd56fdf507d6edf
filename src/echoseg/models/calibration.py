"""ASSC: adaptive spatiotemporal semantic calibration of a neighbour frame's features to a target.

Paper section 3.2 and the authors' released network (see ARCHITECTURE.md):

    Q' = S(Tq(neighbour)),  K' = S(Tk(target))          (B, C, M), S = adaptive max-pool to 1,3,5,7, M = 84
    A  = sigmoid(Q' K'^T)                                (B, C, C)
    W_b = A_b @ G.view(C, 9C) -> (C, C, 3, 3)            "matmul": the released network's reading
    W_b = A_b[..., None, None] * G                       "elementwise": a literal reading of eq. (3)
    out_b = sum over dilations d of conv(neighbour_b, W_b, dilation=d)

Speed. Written as a per-sample convolution (`grouped`: batch folded into groups; `unfold`: im2col +
bmm), the dynamic kernel runs far below plain-conv speed. For the matmul kernel the product is
associative over channels:

    conv(x, A_b @ G)[o] = sum_c A_b[o, c] * conv(x, G)[c]

so the whole calibration is ONE ordinary batched convolution with the shared G followed by a
per-sample (C x C) channel mix (a bmm, 1/9 of the conv's FLOPs). That `factored` form is the
default; the tests check it against a float64 per-sample convolution. The dilations share G, so
their convolutions are summed before the single mix. The elementwise kernel does not factor and
uses the faster of the per-sample forms.

Scaling (`scale`). The released network uses none: with G initialised to ones its kernel sums
9*C*C terms of size ~A, so calibrated features come out about 9*C*C/2 times larger than the centre
frame's, and its logits Q'K'^T sum M = 84 products of max-pooled, hence positive, values, which
saturates the sigmoid. Saturated below means |logit| > ln 99 (A outside [0.01, 0.99], less than 1%
of the gradient reaches Tq and Tk); numbers at initialisation, sscf width 1.0, train-mode
BatchNorm, 64x64 / 256x256 inputs (`attention_saturation` below, stages 1-4; the script that ran it,
`benchmarks/bench_assc_saturation.py`, retired in issue 21: `git show a7aca4d:benchmarks/bench_assc_saturation.py`):
- "centred" (default): each channel's summary is centred over its M values before the product,
  and the product is divided by sqrt(M): the scaled dot product on zero-mean vectors it was made
  for, i.e. a covariance of the two frames' channel summaries (the paper calls Q'K'^T a
  "channel-wise feature correlation"). The kernel is divided by 9*C*C*len(dilations), which keeps
  calibrated features on the scale of their input. Saturated: 0% at every stage, both sizes.
- "sqrt_m": logits / sqrt(M) without centring (echoseg's default before 2026-11-28), same kernel
  scale. Max-pooled summaries are positive, so Q'K'^T still grows like M: 91/71/38/9% saturated
  at 64x64, 99/99/94/73% at 256x256.
- "raw": the released network (no division, no kernel scale): 75-100% saturated at every stage.

Transform padding (`transform_padding`): Tq and Tk are 3x3 convs; the release pads them by 0, so
Q and K are 2 pixels smaller than the map (which then must be at least 3x3). Padding 1 (default)
keeps the map size; the outputs differ by a few percent.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

POOL_SIZES = (1, 3, 5, 7)
KERNELS = ("matmul", "elementwise")
FORMULATIONS = ("factored", "grouped", "unfold")
SCALES = ("centred", "sqrt_m", "raw")
SATURATED_LOGIT = math.log(99.0)  # |logit| above this: sigmoid outside [0.01, 0.99], gradient < 0.01


def summarize(x: torch.Tensor, sizes: tuple[int, ...] = POOL_SIZES) -> torch.Tensor:
    """Multi-scale adaptive max-pool summary. (B, C, H, W) -> (B, C, sum(s*s)) (M = 84 for 1,3,5,7)."""
    b, c = x.shape[:2]
    if torch.onnx.is_in_onnx_export():
        return _summary_sliced_channels_last(x, sizes)
    # torch's adaptive max-pool is fast on channels_last but several times slower than the sliced
    # form on NCHW maps (measured on CPU).
    channels_last = c > 1 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()
    use_torch = channels_last and not torch.onnx.is_in_onnx_export()
    pool = F.adaptive_max_pool2d if use_torch else _adaptive_max_pool_sliced
    pooled = {s: pool(x, s) for s in sizes if s > 1}
    if 1 in sizes:  # adaptive bins cover the whole map, so the global max is the max of any pooled map
        pooled[1] = pooled[max(pooled)].amax(dim=(2, 3), keepdim=True) if pooled else pool(x, 1)
    return torch.cat([pooled[s].reshape(b, c, s * s) for s in sizes], dim=2)


def _summary_sliced_channels_last(x: torch.Tensor, sizes: tuple[int, ...]) -> torch.Tensor:
    """`summarize` as exported to ONNX, which has no adaptive max-pool whose output size does not divide
    the input's: the same static bins as `_adaptive_max_pool_sliced`, taken on the map transposed to
    (B, H, W, C), so each ReduceMax runs over an outer axis with the channels contiguous inside. ONNX
    Runtime ran this 1.2x (32x32 maps) to 4.7x (4x4 maps, 128 channels) faster than the NCHW slices, whose
    many small reductions over the innermost axes dominated its ASSC time (benchmarks/RESULTS.md)."""
    b, c = x.shape[:2]
    nhwc = x.permute(0, 2, 3, 1)
    pooled = {s: _adaptive_max_pool_sliced(nhwc, s, dims=(1, 2)) for s in sizes if s > 1}
    if 1 in sizes:
        pooled[1] = pooled[max(pooled)].amax(dim=(1, 2), keepdim=True) if pooled else nhwc.amax(dim=(1, 2), keepdim=True)
    return torch.cat([pooled[s].reshape(b, s * s, c) for s in sizes], dim=1).transpose(1, 2)


def _adaptive_max_pool_sliced(x: torch.Tensor, size: int, dims: tuple[int, int] = (2, 3)) -> torch.Tensor:
    """adaptive_max_pool2d from static slices (identical bins: [floor(i*n/s), ceil((i+1)*n/s))).

    Separable: max over row bins, then over column bins. ONNX has no adaptive max-pool whose
    output size does not divide the input's, and on NCHW CPU tensors this is also the faster form.
    """
    def bins(n: int) -> list[tuple[int, int]]:
        return [((i * n) // size, -((-(i + 1) * n) // size)) for i in range(size)]

    dy, dx = dims  # the spatial axes: (2, 3) for NCHW, (1, 2) for NHWC
    rows = torch.cat([x.narrow(dy, a, b - a).amax(dim=dy, keepdim=True) for a, b in bins(int(x.shape[dy]))], dim=dy)
    return torch.cat([rows.narrow(dx, a, b - a).amax(dim=dx, keepdim=True) for a, b in bins(int(x.shape[dx]))],
                     dim=dx)


class ASSC(nn.Module):
    """Calibrate `neighbour` features (B, C, H, W) to `target` features (B, C, H, W) -> (B, C, H, W).

    Parameters: `tq`, `tk` (3x3 convs C -> C, the paper's transform T) and `g` (C, C, 3, 3), the
    motion warping matrix, initialised to ones. `scale` and `transform_padding`: see the module
    docstring ("raw" and 0 are the released network's). `formulation` selects how the per-sample
    kernel is applied ("factored" is only valid for the matmul kernel); all formulations compute
    the same function and share parameters, so it can be switched on a trained model.
    """

    def __init__(self, channels: int, dilations: tuple[int, ...] = (1,), kernel: str = "matmul",
                 scale: str = "centred", formulation: str | None = None, transform_padding: int = 1):
        super().__init__()
        if kernel not in KERNELS:
            raise ValueError(f"unknown calibration kernel {kernel!r}; valid: {list(KERNELS)}")
        if scale not in SCALES:
            raise ValueError(f"unknown calibration scale {scale!r}; valid: {list(SCALES)}")
        if transform_padding not in (0, 1):
            raise ValueError(f"transform_padding must be 0 (released network) or 1, got {transform_padding!r}")
        dilations = tuple(int(d) for d in dilations)
        if not dilations or any(d < 1 for d in dilations):
            raise ValueError(f"dilations must be positive integers, got {dilations}")
        self.channels = channels
        self.dilations = dilations
        self.kernel = kernel
        self.scale = scale
        self.transform_padding = transform_padding
        # fastest exact form of each kernel (benchmarks/RESULTS.md)
        self.formulation = formulation or ("factored" if kernel == "matmul" else "grouped")
        self._check_formulation()
        self.tq = nn.Conv2d(channels, channels, 3, padding=transform_padding)
        self.tk = nn.Conv2d(channels, channels, 3, padding=transform_padding)
        self.g = nn.Parameter(torch.ones(channels, channels, 3, 3))

    def _check_formulation(self) -> None:
        if self.formulation not in FORMULATIONS:
            raise ValueError(f"unknown ASSC formulation {self.formulation!r}; valid: {list(FORMULATIONS)}")
        if self.formulation == "factored" and self.kernel != "matmul":
            raise ValueError("the factored formulation exists only for the matmul kernel")

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, dilations={self.dilations}, kernel={self.kernel}, scale={self.scale}, "
                f"transform_padding={self.transform_padding}, formulation={self.formulation}")

    # -- the parts -------------------------------------------------------------------------------

    def attention(self, neighbour: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """A = sigmoid(Q' K'^T / s), (B, C, C); row o weighs the channels of G mixed into output channel o."""
        return torch.sigmoid(self.attention_logits(neighbour, target))

    def attention_logits(self, neighbour: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The logits (B, C, C) before the sigmoid: Q' K'^T, scaled (and Q', K' centred) by `scale`."""
        qs, ks = summarize(self.tq(neighbour)), summarize(self.tk(target))
        if self.scale == "raw":
            return qs @ ks.transpose(1, 2)
        if self.scale == "centred":
            qs = qs - qs.mean(dim=2, keepdim=True)
            ks = ks - ks.mean(dim=2, keepdim=True)
        return (qs @ ks.transpose(1, 2)) / math.sqrt(qs.shape[-1])

    def _kernel_scale(self) -> float:
        if self.scale == "raw":
            return 1.0
        return 1.0 / (9 * self.channels * self.channels * len(self.dilations))

    def dynamic_kernels(self, a: torch.Tensor) -> torch.Tensor:
        """Per-sample kernels W (B, C, C, 3, 3) from A (B, C, C), scale included."""
        c = self.channels
        g = self.g
        if self.kernel == "matmul":
            w = (a @ g.reshape(c, 9 * c)).reshape(-1, c, c, 3, 3)
        else:
            w = a[..., None, None] * g
        return w * self._kernel_scale()

    # -- forward ---------------------------------------------------------------------------------

    def forward(self, neighbour: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.formulation == "factored":
            return self._forward_factored(neighbour, target)
        a = self.attention(neighbour, target)
        w = self.dynamic_kernels(a)
        if self.formulation == "grouped":
            return apply_kernels_grouped(neighbour, w, self.dilations)
        return apply_kernels_unfold(neighbour, w, self.dilations)

    def _forward_factored(self, neighbour: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        a = self.attention(neighbour, target) * self._kernel_scale()
        gx = _sum_over_dilations(lambda d: F.conv2d(neighbour, self.g, padding=d, dilation=d), self.dilations)
        return mix_channels(gx, a)


def _sum_over_dilations(conv, dilations: tuple[int, ...]) -> torch.Tensor:
    """conv(d) summed over the dilations (Python's sum() would spend a full extra pass on 0 + x)."""
    out = conv(dilations[0])
    for d in dilations[1:]:
        out = out + conv(d)
    return out


def mix_channels(x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """out[b, o] = sum_c a[b, o, c] * x[b, c]: x (B, C, H, W), a (B, C, C) -> (B, C, H, W).

    Works on the memory layout it is given (no copy): NCHW as A @ (C, HW), channels_last as
    (HW, C) @ A^T, whose result is again channels_last.
    """
    b, c, h, w = x.shape
    a = a.to(x.dtype)
    if c > 1 and x.stride(1) == 1 and x.is_contiguous(memory_format=torch.channels_last):
        y = x.permute(0, 2, 3, 1).reshape(b, h * w, c) @ a.transpose(1, 2)
        return y.reshape(b, h, w, c).permute(0, 3, 1, 2)
    return (a @ x.reshape(b, c, h * w)).reshape(b, c, h, w)


def apply_kernels_grouped(x: torch.Tensor, w: torch.Tensor, dilations: tuple[int, ...]) -> torch.Tensor:
    """Per-sample conv with the batch folded into groups. x (B, C, H, W), w (B, C, C, 3, 3)."""
    b, c, h, wd = x.shape
    xf = x.reshape(1, b * c, h, wd)
    wf = w.reshape(b * c, c, 3, 3).to(x.dtype)
    out = _sum_over_dilations(lambda d: F.conv2d(xf, wf, padding=d, dilation=d, groups=b), dilations)
    return out.reshape(b, c, h, wd)


def apply_kernels_unfold(x: torch.Tensor, w: torch.Tensor, dilations: tuple[int, ...]) -> torch.Tensor:
    """Per-sample conv as im2col + bmm. x (B, C, H, W), w (B, C, C, 3, 3)."""
    b, c, h, wd = x.shape
    wm = w.reshape(b, c, c * 9).to(x.dtype)
    out = _sum_over_dilations(lambda d: wm @ F.unfold(x, 3, dilation=d, padding=d), dilations)
    return out.reshape(b, c, h, wd)


def reference_calibration(module: ASSC, neighbour: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The released network's formulation, literally: build W_b, then one conv per sample (tests)."""
    a = module.attention(neighbour, target)
    w = module.dynamic_kernels(a)
    outs = []
    for i in range(neighbour.shape[0]):
        outs.append(sum(F.conv2d(neighbour[i:i + 1], w[i], padding=d, dilation=d) for d in module.dilations))
    return torch.cat(outs)


@torch.no_grad()
def attention_saturation(model: nn.Module, frames: torch.Tensor, train_mode: bool = True) -> list[list[float]]:
    """Fraction of saturated ASSC attention entries (|logit| > ln 99: A outside [0.01, 0.99]).

    frames (B, k, H, W) in [0, 1] go through `model` (BatchNorm in train mode by default, as at the
    first training step; the model's weights and statistics are left as they were). Returns
    [stage][neighbour] fractions; [] for a model without BSSF.
    """
    calibrators = [list(f.calibrators) for f in getattr(model, "fusions", []) if hasattr(f, "calibrators")]
    if not calibrators:
        return []
    found: dict[nn.Module, float] = {}

    def record(mod: nn.Module, inp: tuple, out: torch.Tensor) -> None:
        found[mod] = float((mod.attention_logits(inp[0], inp[1]).abs() > SATURATED_LOGIT).float().mean())

    hooks = [assc.register_forward_hook(record) for stage in calibrators for assc in stage]
    state = {k: v.clone() for k, v in model.state_dict().items()}
    was_training = model.training
    try:
        model.train(train_mode)
        model(frames)
    finally:
        for h in hooks:
            h.remove()
        model.load_state_dict(state)  # train-mode BatchNorm updated its running statistics
        model.train(was_training)
    return [[found[assc] for assc in stage] for stage in calibrators]
