"""Medical-imaging corruptions as batched torch operations on images in [0, 1].

Every corruption follows the :class:`ImageCorruption` protocol:
``apply(x, severity, generator)`` takes a batch N×C×H×W on any device and
returns the corrupted batch, clipped to [0, 1]; :class:`Corruption` is the
implementation every built-in uses, and :data:`CORRUPTIONS` the registry.
Severities 1–5 map to the parameters in each ``PARAMS`` tuple,
chosen so that severity 1 is barely visible and severity 5 is a clearly
degraded but still readable acquisition.  No Python loop runs over images.

MRI corruptions act in k-space (``torch.fft``); CT artefacts use documented
image-domain models (rings, streaks, cupping, starvation noise) rather than
a full projection/back-projection, which keeps them fast on 2-D slices.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
import torch.nn.functional as F


@runtime_checkable
class ImageCorruption(Protocol):
    """A corruption: ``name``, ``family`` (noise | mri | ct | generic), a ``description``, and
    ``apply(x, severity 1..5, generator)`` → batch of the same shape and dtype in [0, 1],
    deterministic for a seeded generator; ValueError for a severity outside 1..5."""

    @property
    def name(self) -> str: ...

    @property
    def family(self) -> str: ...

    @property
    def description(self) -> str: ...

    def apply(self, x: torch.Tensor, severity: int, generator: torch.Generator | None = None) -> torch.Tensor: ...


@dataclass(frozen=True)
class Corruption:
    name: str
    family: str  # noise | mri | ct | generic
    params: tuple  # parameter for severities 1..5
    description: str
    fn: Callable

    def apply(self, x: torch.Tensor, severity: int, generator: torch.Generator | None = None) -> torch.Tensor:
        if not 1 <= severity <= 5:
            raise ValueError(f"severity must be 1..5, got {severity}")
        return self.fn(x, self.params[severity - 1], generator).clamp(0.0, 1.0)


def _randn(x, g):
    return torch.randn(x.shape, generator=g, device=x.device, dtype=x.dtype)


def _rand(shape, x, g):
    return torch.rand(shape, generator=g, device=x.device, dtype=x.dtype)


def _grid(x):
    _n, _, h, w = x.shape
    yy = torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1)
    xx = torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w)
    return yy, xx


# --------------------------------------------------------------------------- noise


def gaussian(x, sigma, g):
    return x + sigma * _randn(x, g)


def poisson(x, photons, g):
    """Quantum noise: counts ~ Poisson(x · photons), rescaled (variance = mean / photons)."""
    return torch.poisson(x.clamp(min=0) * photons, generator=g) / photons


def speckle(x, sigma, g):
    return x * (1 + sigma * _randn(x, g))


def rician(x, sigma, g):
    """MRI magnitude noise: |x + σ(n₁ + i n₂)|."""
    return torch.sqrt((x + sigma * _randn(x, g)) ** 2 + (sigma * _randn(x, g)) ** 2)


# --------------------------------------------------------------------------- MRI (k-space)


def _fft(x):
    """Half-spectrum k-space (real images are Hermitian: half the work of a full FFT)."""
    return torch.fft.rfft2(x)


def _ifft(k, shape):
    """Magnitude image from half-spectrum k-space."""
    return torch.fft.irfft2(k, s=shape[-2:]).abs()


def _freqs(x):
    """k-space coordinates (cycles/pixel in [-0.5, 0.5]) of the half spectrum: fy (H×1), fx (1×W/2+1)."""
    h, w = x.shape[-2:]
    return (
        torch.fft.fftfreq(h, device=x.device).view(h, 1).to(x.dtype),
        torch.fft.rfftfreq(w, device=x.device).view(1, -1).to(x.dtype),
    )


def motion(x, p, g):
    """Rigid motion during acquisition: k-space lines come from moved copies of the image."""
    max_shift, max_deg, n_moves = p
    n, _c, h, w = x.shape
    kspace = _fft(x)
    line_owner = torch.floor(_rand((n, 1, h, 1), x, g) * (n_moves + 1))  # 0 = still
    for m in range(1, n_moves + 1):
        ang = (_rand((n,), x, g) * 2 - 1) * math.radians(max_deg)
        shift = (_rand((n, 2), x, g) * 2 - 1) * (2 * max_shift / max(h, w))
        theta = torch.stack(
            [torch.stack([ang.cos(), -ang.sin(), shift[:, 0]], 1), torch.stack([ang.sin(), ang.cos(), shift[:, 1]], 1)],
            1,
        )
        moved = F.grid_sample(
            x, F.affine_grid(theta, x.shape, align_corners=False), padding_mode="border", align_corners=False
        )
        kspace = torch.where(line_owner == m, _fft(moved), kspace)
    return _ifft(kspace, x.shape)


def ghosting(x, alpha, g):
    """N/2 ghosting: alternate phase-encode lines scaled by (1 − α)."""
    h = x.shape[-2]
    mod = torch.ones(h, device=x.device, dtype=x.dtype)
    mod[1::2] = 1 - alpha  # every other line in centred (shifted) order
    mod = torch.fft.ifftshift(mod)
    return _ifft(_fft(x) * mod.view(1, 1, h, 1), x.shape)


def spike(x, amplitude, g):
    """A k-space spike gives a herringbone pattern."""
    k = _fft(x)
    n, _c, h, wk = k.shape
    iy = (_rand((n,), x, g) * h * 0.8 + h * 0.1).long()
    ix = (_rand((n,), x, g) * (wk - 2) + 1).long()
    mag = k.abs().amax(dim=(-2, -1))
    spike_map = torch.zeros_like(k.real)
    spike_map[torch.arange(n), :, iy, ix] = amplitude * mag
    return _ifft(k + spike_map, x.shape)


def gibbs(x, keep, g):
    """Gibbs ringing: k-space truncated to the central fraction ``keep``."""
    fy, fx = _freqs(x)
    mask = (fy.abs() <= keep / 2) & (fx <= keep / 2)
    return _ifft(_fft(x) * mask, x.shape)


def bias_field(x, strength, g):
    """Smooth multiplicative field exp(Σ c_ij yⁱ xʲ), polynomial order 3."""
    n = x.shape[0]
    yy, xx = _grid(x)
    field = torch.zeros((n, 1, x.shape[-2], x.shape[-1]), device=x.device, dtype=x.dtype)
    for i in range(4):
        for j in range(4 - i):
            if i + j:
                coef = (_rand((n, 1, 1, 1), x, g) * 2 - 1) * strength
                field = field + coef * yy**i * xx**j
    return x * torch.exp(field)


# --------------------------------------------------------------------------- CT (image-domain models)


def _radius(x, centre):
    yy, xx = _grid(x)
    return torch.sqrt((yy - centre[:, 0].view(-1, 1, 1, 1)) ** 2 + (xx - centre[:, 1].view(-1, 1, 1, 1)) ** 2)


def ring(x, amplitude, g):
    """Detector-channel rings: concentric bands around the rotation centre."""
    n = x.shape[0]
    r = _radius(x, torch.zeros((n, 2), device=x.device, dtype=x.dtype))
    freq = 10 + 20 * _rand((n, 1, 1, 1), x, g)
    phase = _rand((n, 1, 1, 1), x, g) * 2 * math.pi
    return x + amplitude * torch.sin(freq * math.pi * r + phase) * (torch.cos(3 * freq * r) > 0.6)


def metal(x, amplitude, g):
    """Metal: a bright implant with alternating bright/dark streaks radiating from it."""
    n = x.shape[0]
    centre = (_rand((n, 2), x, g) * 2 - 1) * 0.5
    yy, xx = _grid(x)
    dy, dx = yy - centre[:, 0].view(-1, 1, 1, 1), xx - centre[:, 1].view(-1, 1, 1, 1)
    r = torch.sqrt(dy**2 + dx**2) + 1e-3
    angle = torch.atan2(dy, dx)
    n_streaks = 6
    streaks = torch.cos(n_streaks * angle) * torch.exp(-r * 2)
    implant = (r < 0.06).to(x.dtype)
    return x + amplitude * streaks + implant


def beam_hardening(x, depth, g):
    """Cupping: the object's centre reads darker than its edge (parabolic deficit)."""
    n = x.shape[0]
    r = _radius(x, torch.zeros((n, 2), device=x.device, dtype=x.dtype))
    return x - depth * (1 - r.clamp(max=1) ** 2) * (x > 0.05)


def photon_starvation(x, sigma, g):
    """Starvation along one direction: noise smeared into streaks at a random angle."""
    n, c, h, w = x.shape
    noise = _randn(x, g)
    k = 15
    kernel = torch.zeros((1, 1, k, k), device=x.device, dtype=x.dtype)
    kernel[0, 0, k // 2, :] = 1.0 / k
    streaks = F.conv2d(noise.reshape(n * c, 1, h, w), kernel, padding=k // 2).reshape(n, c, h, w)
    ang = _rand((n,), x, g) * math.pi
    theta = torch.stack(
        [
            torch.stack([ang.cos(), -ang.sin(), torch.zeros_like(ang)], 1),
            torch.stack([ang.sin(), ang.cos(), torch.zeros_like(ang)], 1),
        ],
        1,
    )
    rotated = F.grid_sample(
        streaks, F.affine_grid(theta, x.shape, align_corners=False), align_corners=False, padding_mode="reflection"
    )
    return x + sigma * rotated * math.sqrt(k)


# --------------------------------------------------------------------------- generic


def blur(x, sigma, g):
    """Gaussian blur as a product in the Fourier domain with symmetric (mirror) boundaries.

    The image is mirrored into a 2H×2W periodic tile, whose circular convolution
    equals a convolution with half-sample symmetric extension, for any σ and image
    size (reflect padding needs a pad smaller than the image and failed on 8×8
    images at σ ≥ 1.8).
    """
    h, w = x.shape[-2:]
    y = torch.cat([x, x.flip(-1)], -1)
    y = torch.cat([y, y.flip(-2)], -2)
    fy, fx = _freqs(y)
    transfer = torch.exp(-2 * (math.pi * sigma) ** 2 * (fy**2 + fx**2))
    return torch.fft.irfft2(torch.fft.rfft2(y) * transfer, s=y.shape[-2:])[..., :h, :w]


def contrast(x, p, g):
    """Window shift: contrast scaled by ``c`` around a level moved by ``b``."""
    c, b = p
    return (x - 0.5) * c + 0.5 + b


def gamma(x, gam, g):
    return x.clamp(min=0) ** gam


def _dct_matrix(n, device, dtype):
    i = torch.arange(n, device=device, dtype=dtype)
    m = torch.cos(math.pi * (2 * i.view(1, -1) + 1) * i.view(-1, 1) / (2 * n)) * math.sqrt(2 / n)
    m[0] = m[0] / math.sqrt(2)
    return m


_JPEG_LUMA = (
    16,
    11,
    10,
    16,
    24,
    40,
    51,
    61,
    12,
    12,
    14,
    19,
    26,
    58,
    60,
    55,
    14,
    13,
    16,
    24,
    40,
    57,
    69,
    56,
    14,
    17,
    22,
    29,
    51,
    87,
    80,
    62,
    18,
    22,
    37,
    56,
    68,
    109,
    103,
    77,
    24,
    35,
    55,
    64,
    81,
    104,
    113,
    92,
    49,
    64,
    78,
    87,
    103,
    121,
    120,
    101,
    72,
    92,
    95,
    98,
    112,
    100,
    103,
    99,
)


def jpeg(x, quality, g):
    """JPEG-style compression: 8×8 block DCT quantised with the scaled luminance table."""
    n, c, h, w = x.shape
    ph, pw = (-h) % 8, (-w) % 8
    y = F.pad(x, (0, pw, 0, ph), mode="replicate") * 255 - 128
    hh, ww = y.shape[-2:]
    blocks = y.reshape(n, c, hh // 8, 8, ww // 8, 8).transpose(3, 4)
    d = _dct_matrix(8, x.device, x.dtype)
    coef = d @ blocks @ d.T
    scale = 5000 / quality if quality < 50 else 200 - 2 * quality
    q = torch.tensor(_JPEG_LUMA, device=x.device, dtype=x.dtype).view(8, 8)
    q = torch.clamp(torch.floor((q * scale + 50) / 100), min=1)
    rec = d.T @ (torch.round(coef / q) * q) @ d
    out = (rec.transpose(3, 4).reshape(n, c, hh, ww) + 128) / 255
    return out[..., :h, :w]


def downsample(x, factor, g):
    """Low-resolution acquisition: f×f block averages shown at full size (block replication)."""
    h, w = x.shape[-2:]
    small = F.avg_pool2d(x, kernel_size=factor, stride=factor, ceil_mode=True)
    return small.repeat_interleave(factor, -2).repeat_interleave(factor, -1)[..., :h, :w]


CORRUPTIONS: dict[str, ImageCorruption] = {
    c.name: c
    for c in (
        Corruption("gaussian", "noise", (0.02, 0.04, 0.06, 0.08, 0.12), "additive Gaussian noise, σ", gaussian),
        Corruption("poisson", "noise", (800, 400, 200, 100, 50), "quantum noise, photons at full scale", poisson),
        Corruption("speckle", "noise", (0.05, 0.1, 0.15, 0.2, 0.3), "multiplicative (ultrasound) noise, σ", speckle),
        Corruption("rician", "noise", (0.02, 0.04, 0.06, 0.08, 0.12), "MRI magnitude noise, σ", rician),
        Corruption(
            "motion",
            "mri",
            ((1, 1, 1), (2, 2, 2), (3, 3, 2), (4, 5, 3), (6, 8, 4)),
            "rigid motion in k-space: (max shift px, max rotation °, moves)",
            motion,
        ),
        Corruption("ghosting", "mri", (0.1, 0.2, 0.3, 0.45, 0.6), "N/2 ghosting, line attenuation α", ghosting),
        Corruption("spike", "mri", (0.05, 0.1, 0.2, 0.35, 0.5), "k-space spike, fraction of peak", spike),
        Corruption("gibbs", "mri", (0.8, 0.65, 0.5, 0.4, 0.3), "k-space truncation, kept fraction", gibbs),
        Corruption(
            "bias-field", "mri", (0.1, 0.2, 0.3, 0.45, 0.6), "polynomial bias field, coefficient range", bias_field
        ),
        Corruption("ring", "ct", (0.02, 0.04, 0.06, 0.09, 0.12), "ring artefact amplitude", ring),
        Corruption("metal", "ct", (0.05, 0.1, 0.15, 0.22, 0.3), "metal streak amplitude", metal),
        Corruption("beam-hardening", "ct", (0.05, 0.1, 0.15, 0.2, 0.3), "cupping depth", beam_hardening),
        Corruption(
            "photon-starvation", "ct", (0.02, 0.04, 0.06, 0.09, 0.12), "directional streak noise σ", photon_starvation
        ),
        Corruption("blur", "generic", (0.5, 0.8, 1.2, 1.8, 2.5), "Gaussian blur σ (pixels)", blur),
        Corruption(
            "contrast",
            "generic",
            ((0.9, 0.03), (0.8, 0.06), (0.7, 0.09), (0.55, 0.12), (0.4, 0.15)),
            "window shift: (contrast, level offset)",
            contrast,
        ),
        Corruption("gamma", "generic", (1.15, 1.3, 1.5, 1.75, 2.1), "gamma exponent", gamma),
        Corruption("jpeg", "generic", (80, 60, 40, 20, 10), "JPEG quality", jpeg),
        Corruption(
            "downsample", "generic", (2, 3, 4, 6, 8), "down-sampling factor (block average, replicated)", downsample
        ),
    )
}
