"""Image transforms in NumPy (torchvision's ``transforms``), no PIL needed.

Inputs are HWC (or HW) NumPy arrays, uint8 or float, or CHW (or ``..., H, W``)
ember tensors; geometric transforms return the same kind they were given.
Random transforms draw from ember's default generator (``ember.manual_seed``)
or from the ``generator=`` they were built with, so a seed reproduces them.
Resampling: ``"nearest"`` or ``"bilinear"`` (half-pixel centres, as PyTorch's
``interpolate(align_corners=False)`` and ``grid_sample``).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..tensor import Tensor, _make

__all__ = [
    "CenterCrop",
    "Compose",
    "InterpolationMode",
    "Lambda",
    "Normalize",
    "RandomAffine",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomResizedCrop",
    "RandomRotation",
    "RandomVerticalFlip",
    "Resize",
    "ToTensor",
]


class InterpolationMode:
    NEAREST = "nearest"
    BILINEAR = "bilinear"


def _interp(mode):
    mode = getattr(mode, "value", mode)
    mode = str(mode).lower()
    if mode not in ("nearest", "bilinear"):
        raise ValueError(f"interpolation must be 'nearest' or 'bilinear', got {mode!r}")
    return mode


# ---- layout helpers ---------------------------------------------------------------
def _unpack(img):
    """``img`` as an (H, W, C) array, and a function that puts a result back in ``img``'s form."""
    if isinstance(img, Tensor):
        a = img._data
        if a.ndim < 2:
            raise ValueError(f"expected a tensor with at least 2 dimensions (..., H, W), got shape {tuple(a.shape)}")
        lead = a.shape[:-2]
        h, w = a.shape[-2:]
        hwc = a.reshape((-1, h, w)).transpose(1, 2, 0)

        def pack(out):
            oh, ow = out.shape[:2]
            return _make(np.ascontiguousarray(out.transpose(2, 0, 1)).reshape(lead + (oh, ow)))

        return hwc, pack
    a = np.asarray(img)
    if a.ndim == 2:
        return a[:, :, None], lambda out: out[:, :, 0]
    if a.ndim != 3:
        raise ValueError(f"expected an HWC or HW array, got shape {a.shape}")
    return a, lambda out: out


def _size_of(img):
    if isinstance(img, Tensor):
        return tuple(img.shape[-2:])
    return tuple(np.shape(img)[:2])


def _pair(size, name="size"):
    if isinstance(size, numbers.Number):
        return int(size), int(size)
    size = tuple(size)
    if len(size) == 1:
        return int(size[0]), int(size[0])
    if len(size) != 2:
        raise ValueError(f"{name} must be an int or a sequence of 1 or 2 ints, got {size}")
    return int(size[0]), int(size[1])


def _cast_back(out, dtype):
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(dtype)
    return out.astype(dtype, copy=False)


def _rng(generator):
    from ..random import _gen

    return _gen(generator)


# ---- kernels ----------------------------------------------------------------------
def _resize_axis(a, axis, out_n, mode):
    n = a.shape[axis]
    if n == out_n:
        return a
    scale = n / out_n
    dst = np.arange(out_n, dtype=np.float64)
    if mode == "nearest":
        idx = np.minimum(np.floor(dst * scale).astype(np.int64), n - 1)
        return np.take(a, idx, axis=axis)
    src = np.maximum((dst + 0.5) * scale - 0.5, 0.0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n - 1)
    i1 = np.minimum(i0 + 1, n - 1)
    w1 = src - i0
    shape = [1] * a.ndim
    shape[axis] = out_n
    w1 = w1.reshape(shape)
    return np.take(a, i0, axis=axis) * (1.0 - w1) + np.take(a, i1, axis=axis) * w1


def _resize(hwc, size, mode):
    out = hwc.astype(np.float64) if mode == "bilinear" else hwc
    out = _resize_axis(out, 0, size[0], mode)
    out = _resize_axis(out, 1, size[1], mode)
    return _cast_back(out, hwc.dtype)


def _crop(hwc, top, left, h, w, fill=0):
    """``hwc[top:top+h, left:left+w]``, padding with ``fill`` where the box leaves the image."""
    H, W = hwc.shape[:2]
    if top >= 0 and left >= 0 and top + h <= H and left + w <= W:
        return hwc[top : top + h, left : left + w]
    out = np.full((h, w, hwc.shape[2]), fill, dtype=hwc.dtype)
    t0, l0 = max(top, 0), max(left, 0)
    t1, l1 = min(top + h, H), min(left + w, W)
    if t1 > t0 and l1 > l0:
        out[t0 - top : t1 - top, l0 - left : l1 - left] = hwc[t0:t1, l0:l1]
    return out


def _warp(hwc, inv, mode, fill=0):
    """Sample ``hwc`` at ``inv @ (x, y)`` for every output pixel; coordinates are relative to the centre."""
    H, W, C = hwc.shape
    ys, xs = np.meshgrid(np.arange(H, dtype=np.float64), np.arange(W, dtype=np.float64), indexing="ij")
    cx, cy = (W - 1) * 0.5, (H - 1) * 0.5
    x, y = xs - cx, ys - cy
    sx = inv[0, 0] * x + inv[0, 1] * y + inv[0, 2] + cx
    sy = inv[1, 0] * x + inv[1, 1] * y + inv[1, 2] + cy
    # snap coordinates that are integers up to rounding error (exact 90-degree turns, flips)
    rx, ry = np.rint(sx), np.rint(sy)
    sx = np.where(np.abs(sx - rx) < 1e-9, rx, sx)
    sy = np.where(np.abs(sy - ry) < 1e-9, ry, sy)
    src = hwc.astype(np.float64)
    fillv = np.broadcast_to(np.asarray(fill, dtype=np.float64), (C,))
    if mode == "nearest":
        xi, yi = np.floor(sx + 0.5).astype(np.int64), np.floor(sy + 0.5).astype(np.int64)
        ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        out = src[np.clip(yi, 0, H - 1), np.clip(xi, 0, W - 1)]
        out[~ok] = fillv
        return _cast_back(out, hwc.dtype)
    x0, y0 = np.floor(sx).astype(np.int64), np.floor(sy).astype(np.int64)
    fx, fy = sx - x0, sy - y0
    out = np.zeros((H, W, C), dtype=np.float64)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xi, yi = x0 + dx, y0 + dy
            ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
            v = src[np.clip(yi, 0, H - 1), np.clip(xi, 0, W - 1)]
            v = np.where(ok[..., None], v, fillv)
            out += (wx * wy)[..., None] * v
    return _cast_back(out, hwc.dtype)


def _affine_inverse(angle, translate, scale, shear):
    """Inverse of: shear, scale, rotate counter-clockwise by ``angle`` degrees, then translate (pixels)."""
    a = math.radians(angle)
    c, s = math.cos(a), math.sin(a)
    rot = np.array([[c, s], [-s, c]])  # counter-clockwise on screen (y points down)
    sh = np.array([[1.0, math.tan(math.radians(shear[0]))], [math.tan(math.radians(shear[1])), 1.0]])
    m = np.eye(3)
    m[:2, :2] = scale * rot @ sh
    m[0, 2], m[1, 2] = translate
    return np.linalg.inv(m)


# ---- functional forms ---------------------------------------------------------------
def to_tensor(pic):
    """HWC (or HW) array -> CHW float32 tensor; uint8 is scaled to [0, 1]."""
    if isinstance(pic, Tensor):
        return pic
    a = np.asarray(pic)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3:
        raise ValueError(f"pic should be 2 or 3 dimensional. Got {a.ndim} dimensions.")
    chw = np.ascontiguousarray(a.transpose(2, 0, 1))
    if a.dtype == np.uint8:
        return _make(chw.astype(np.float32) / np.float32(255))
    if a.dtype.kind == "f":
        return _make(chw.astype(np.float32, copy=False) if a.dtype != np.float64 else chw)
    return _make(chw)


def normalize(tensor, mean, std, inplace=False):
    if not isinstance(tensor, Tensor):
        raise TypeError(f"img should be a Tensor. Got {type(tensor).__name__}")
    if not tensor.is_floating_point():
        raise TypeError(f"Input tensor should be a float tensor. Got {tensor.dtype}.")
    a = tensor._data
    dtype = a.dtype
    mean = np.asarray(mean, dtype=dtype)
    std = np.asarray(std, dtype=dtype)
    if (std == 0).any():
        raise ValueError(f"std evaluated to zero after conversion to {dtype}, leading to division by zero.")
    if mean.ndim == 1:
        mean = mean.reshape(-1, 1, 1)
    if std.ndim == 1:
        std = std.reshape(-1, 1, 1)
    if inplace:
        a -= mean
        a /= std
        tensor._bump_version()
        return tensor
    return _make((a - mean) / std)


def resize(img, size, interpolation="bilinear"):
    mode = _interp(interpolation)
    h, w = _size_of(img)
    if isinstance(size, numbers.Number) or len(size) == 1:
        s = int(size if isinstance(size, numbers.Number) else size[0])
        if h <= w:
            oh, ow = s, int(s * w / h)
        else:
            oh, ow = int(s * h / w), s
    else:
        oh, ow = int(size[0]), int(size[1])
    hwc, pack = _unpack(img)
    return pack(_resize(hwc, (oh, ow), mode))


def crop(img, top, left, height, width):
    hwc, pack = _unpack(img)
    return pack(np.ascontiguousarray(_crop(hwc, top, left, height, width)))


def center_crop(img, output_size):
    th, tw = _pair(output_size)
    h, w = _size_of(img)
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return crop(img, top, left, th, tw)


def hflip(img):
    hwc, pack = _unpack(img)
    return pack(np.ascontiguousarray(hwc[:, ::-1]))


def vflip(img):
    hwc, pack = _unpack(img)
    return pack(np.ascontiguousarray(hwc[::-1]))


def affine(img, angle=0.0, translate=(0, 0), scale=1.0, shear=(0.0, 0.0), interpolation="nearest", fill=0):
    """Rotate counter-clockwise by ``angle`` degrees about the centre, scale, shear, then translate (pixels)."""
    if isinstance(shear, numbers.Number):
        shear = (shear, 0.0)
    hwc, pack = _unpack(img)
    inv = _affine_inverse(angle, translate, scale, shear)
    return pack(_warp(hwc, inv, _interp(interpolation), fill))


def rotate(img, angle, interpolation="nearest", fill=0):
    """Rotate counter-clockwise by ``angle`` degrees about the image centre (same size, corners filled)."""
    return affine(img, angle, interpolation=interpolation, fill=fill)


# ---- transform classes ---------------------------------------------------------------
class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self):
        body = "".join(f"\n    {t}" for t in self.transforms)
        return f"{self.__class__.__name__}({body}\n)"


class Lambda:
    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Argument lambd should be callable, got {type(lambd).__name__!r}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)


class ToTensor:
    """HWC (or HW) array -> CHW float tensor, uint8 scaled to [0, 1]."""

    def __call__(self, pic):
        return to_tensor(pic)

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    def __init__(self, mean, std, inplace=False):
        self.mean, self.std, self.inplace = mean, std, inplace

    def __call__(self, tensor):
        return normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self):
        return f"Normalize(mean={self.mean}, std={self.std})"


class Resize:
    def __init__(self, size, interpolation="bilinear", max_size=None, antialias=True):
        self.size = size
        self.interpolation = _interp(interpolation)

    def __call__(self, img):
        return resize(img, self.size, self.interpolation)


class CenterCrop:
    def __init__(self, size):
        self.size = _pair(size)

    def __call__(self, img):
        return center_crop(img, self.size)


class _Random:
    def __init__(self, generator=None):
        self.generator = generator

    def _rand(self):
        return float(_rng(self.generator).random())

    def _uniform(self, lo, hi):
        return float(lo + (hi - lo) * _rng(self.generator).random())

    def _randint(self, lo, hi):  # [lo, hi)
        return int(_rng(self.generator).integers(lo, hi))


class RandomCrop(_Random):
    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant", *, generator=None):
        super().__init__(generator)
        self.size = _pair(size)
        self.padding = padding
        self.pad_if_needed = pad_if_needed
        self.fill = fill
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError("padding_mode should be one of constant, edge, reflect or symmetric")
        self.padding_mode = padding_mode

    def _pad(self, hwc, left, top, right, bottom):
        width = ((top, bottom), (left, right), (0, 0))
        if self.padding_mode == "constant":
            return np.pad(hwc, width, mode="constant", constant_values=self.fill)
        return np.pad(hwc, width, mode=self.padding_mode)

    def __call__(self, img):
        hwc, pack = _unpack(img)
        if self.padding is not None:
            p = self.padding
            if isinstance(p, numbers.Number):
                p = (p, p, p, p)
            elif len(p) == 2:
                p = (p[0], p[1], p[0], p[1])
            hwc = self._pad(hwc, *p)
        th, tw = self.size
        h, w = hwc.shape[:2]
        if self.pad_if_needed and w < tw:
            hwc = self._pad(hwc, tw - w, 0, tw - w, 0)
        if self.pad_if_needed and h < th:
            hwc = self._pad(hwc, 0, th - h, 0, th - h)
        h, w = hwc.shape[:2]
        if h < th or w < tw:
            raise ValueError(f"Required crop size {(th, tw)} is larger than input image size {(h, w)}")
        i = self._randint(0, h - th + 1)
        j = self._randint(0, w - tw + 1)
        return pack(np.ascontiguousarray(hwc[i : i + th, j : j + tw]))


class RandomResizedCrop(_Random):
    def __init__(
        self,
        size,
        scale=(0.08, 1.0),
        ratio=(3.0 / 4.0, 4.0 / 3.0),
        interpolation="bilinear",
        antialias=True,
        *,
        generator=None,
    ):
        super().__init__(generator)
        self.size = _pair(size)
        self.scale, self.ratio = scale, ratio
        self.interpolation = _interp(interpolation)

    def get_params(self, height, width):
        area = height * width
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target_area = area * self._uniform(self.scale[0], self.scale[1])
            aspect = math.exp(self._uniform(*log_ratio))
            w = int(round(math.sqrt(target_area * aspect)))
            h = int(round(math.sqrt(target_area / aspect)))
            if 0 < w <= width and 0 < h <= height:
                i = self._randint(0, height - h + 1)
                j = self._randint(0, width - w + 1)
                return i, j, h, w
        in_ratio = width / height
        if in_ratio < min(self.ratio):
            w = width
            h = int(round(w / min(self.ratio)))
        elif in_ratio > max(self.ratio):
            h = height
            w = int(round(h * max(self.ratio)))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img):
        hwc, pack = _unpack(img)
        i, j, h, w = self.get_params(*hwc.shape[:2])
        return pack(_resize(hwc[i : i + h, j : j + w], self.size, self.interpolation))


class RandomHorizontalFlip(_Random):
    def __init__(self, p=0.5, *, generator=None):
        super().__init__(generator)
        self.p = p

    def __call__(self, img):
        return hflip(img) if self._rand() < self.p else img


class RandomVerticalFlip(_Random):
    def __init__(self, p=0.5, *, generator=None):
        super().__init__(generator)
        self.p = p

    def __call__(self, img):
        return vflip(img) if self._rand() < self.p else img


def _range(value, name, center=0.0):
    if isinstance(value, numbers.Number):
        if value < 0:
            raise ValueError(f"If {name} is a single number, it must be positive.")
        return (center - float(value), center + float(value))
    if len(value) != 2:
        raise ValueError(f"{name} should be a sequence of length 2.")
    return (float(value[0]), float(value[1]))


class RandomRotation(_Random):
    """Rotate by an angle drawn uniformly from ``degrees`` (counter-clockwise is positive)."""

    def __init__(self, degrees, interpolation="nearest", expand=False, center=None, fill=0, *, generator=None):
        super().__init__(generator)
        if expand or center is not None:
            raise NotImplementedError("RandomRotation: expand=True and center are not supported in ember")
        self.degrees = _range(degrees, "degrees")
        self.interpolation = _interp(interpolation)
        self.fill = fill

    def __call__(self, img):
        angle = self._uniform(*self.degrees)
        return rotate(img, angle, self.interpolation, self.fill)


class RandomAffine(_Random):
    """Random rotation, translation (fractions of the size), scale and shear, about the image centre."""

    def __init__(
        self,
        degrees,
        translate=None,
        scale=None,
        shear=None,
        interpolation="nearest",
        fill=0,
        center=None,
        *,
        generator=None,
    ):
        super().__init__(generator)
        if center is not None:
            raise NotImplementedError("RandomAffine: center is not supported in ember")
        self.degrees = _range(degrees, "degrees")
        if translate is not None:
            if len(translate) != 2 or not all(0.0 <= t <= 1.0 for t in translate):
                raise ValueError("translate should be a sequence of two values between 0 and 1")
        if scale is not None:
            if len(scale) != 2 or any(s <= 0 for s in scale):
                raise ValueError("scale values should be positive")
        self.translate, self.scale = translate, scale
        if shear is not None:
            if isinstance(shear, numbers.Number):
                shear = (-shear, shear, 0.0, 0.0)
            elif len(shear) == 2:
                shear = (shear[0], shear[1], 0.0, 0.0)
        self.shear = shear
        self.interpolation = _interp(interpolation)
        self.fill = fill

    def get_params(self, height, width):
        angle = self._uniform(*self.degrees)
        if self.translate is not None:
            mx, my = self.translate[0] * width, self.translate[1] * height
            tx = int(round(self._uniform(-mx, mx)))
            ty = int(round(self._uniform(-my, my)))
        else:
            tx = ty = 0
        s = self._uniform(*self.scale) if self.scale is not None else 1.0
        shx = shy = 0.0
        if self.shear is not None:
            shx = self._uniform(self.shear[0], self.shear[1])
            if self.shear[2] != 0 or self.shear[3] != 0:
                shy = self._uniform(self.shear[2], self.shear[3])
        return angle, (tx, ty), s, (shx, shy)

    def __call__(self, img):
        angle, t, s, sh = self.get_params(*_size_of(img))
        return affine(img, angle, t, s, sh, self.interpolation, self.fill)
