"""ember.vision.transforms: geometry and values checked against NumPy (and PyTorch's interpolate)."""

import numpy as np
import pytest
import torch

import ember
from ember.vision import transforms as T


def _img(h=6, w=6, c=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, c), dtype=np.uint8)


def test_to_tensor_and_normalize_values():
    img = _img(4, 5)
    t = T.ToTensor()(img)
    assert t.shape == (3, 4, 5) and t.dtype == ember.float32
    np.testing.assert_allclose(t.numpy(), img.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert T.ToTensor()(img[:, :, 0]).shape == (1, 4, 5)
    f = np.random.default_rng(1).random((4, 5, 2)).astype(np.float32)
    np.testing.assert_array_equal(T.ToTensor()(f).numpy(), f.transpose(2, 0, 1))  # floats are not rescaled
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    n = T.Normalize(mean, std)(t)
    want = (img.transpose(2, 0, 1) / 255.0 - np.array(mean)[:, None, None]) / np.array(std)[:, None, None]
    np.testing.assert_allclose(n.numpy(), want, rtol=1e-5, atol=1e-6)
    before = t.numpy().copy()
    T.Normalize(mean, std)(t)
    np.testing.assert_array_equal(t.numpy(), before)  # not in place by default
    T.Normalize(mean, std, inplace=True)(t)
    np.testing.assert_allclose(t.numpy(), want, rtol=1e-5, atol=1e-6)
    with pytest.raises(TypeError):
        T.Normalize(mean, std)(img)


@pytest.mark.parametrize("interp", ["nearest", "bilinear"])
@pytest.mark.parametrize("k", [1, 2, 3])
def test_right_angle_rotations_equal_rot90(interp, k):
    img = _img(7, 7)
    np.testing.assert_array_equal(T.rotate(img, 90 * k, interpolation=interp), np.rot90(img, k))
    t = T.ToTensor()(img)
    np.testing.assert_allclose(T.rotate(t, 90 * k, interp).numpy(), np.rot90(t.numpy(), k, axes=(1, 2)), atol=1e-6)
    np.testing.assert_array_equal(T.rotate(img, -90 * k, interp), np.rot90(img, -k))


def test_rotation_keeps_the_centre_and_fills_corners():
    img = np.full((9, 9, 1), 200, dtype=np.uint8)
    r = T.rotate(img, 45, fill=0)
    assert r[4, 4, 0] == 200 and r[0, 0, 0] == 0 and r.shape == img.shape
    rr = T.RandomRotation((30, 30))(img)
    np.testing.assert_array_equal(rr, T.rotate(img, 30))


def test_flips_invert_and_match_numpy():
    img = _img(5, 6)
    t = T.ToTensor()(img)
    always_h, always_v = T.RandomHorizontalFlip(p=1.0), T.RandomVerticalFlip(p=1.0)
    np.testing.assert_array_equal(always_h(img), img[:, ::-1])
    np.testing.assert_array_equal(always_v(img), img[::-1])
    np.testing.assert_array_equal(always_h(always_h(t)).numpy(), t.numpy())
    np.testing.assert_array_equal(always_v(t).numpy(), t.numpy()[:, ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(p=0.0)(img), img)
    ember.manual_seed(0)
    flips = [np.array_equal(T.RandomHorizontalFlip()(img), img[:, ::-1]) for _ in range(200)]
    assert 70 < sum(flips) < 130


def test_crops_stay_in_bounds():
    img = np.arange(10 * 12, dtype=np.float32).reshape(10, 12, 1)
    c = T.CenterCrop((4, 6))(img)
    np.testing.assert_array_equal(c, img[3:7, 3:9])
    ember.manual_seed(0)
    for _ in range(50):
        r = T.RandomCrop((4, 5))(img)
        assert r.shape == (4, 5, 1)
        top, left = divmod(int(r[0, 0, 0]), 12)
        np.testing.assert_array_equal(r, img[top : top + 4, left : left + 5])
        p = T.RandomCrop(10, padding=2)(img)
        assert p.shape == (10, 10, 1)
        rr = T.RandomResizedCrop(6, scale=(0.2, 1.0))(img)
        assert rr.shape == (6, 6, 1) and rr.min() >= img.min() and rr.max() <= img.max()
    t = T.ToTensor()(img)
    assert T.RandomCrop(3)(t).shape == (1, 3, 3) and T.CenterCrop(20)(t).shape == (1, 20, 20)
    with pytest.raises(ValueError):
        T.RandomCrop(20)(img)


@pytest.mark.parametrize("size", [(9, 5), (3, 8), (6, 6)])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
def test_resize_matches_torch_interpolate(size, mode):
    x = np.random.default_rng(0).random((2, 6, 7)).astype(np.float32)
    ours = T.Resize(size, interpolation=mode)(ember.tensor(x)).numpy()
    kw = dict(align_corners=False) if mode == "bilinear" else {}
    theirs = torch.nn.functional.interpolate(torch.tensor(x)[None], size=size, mode=mode, **kw)[0].numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    assert T.Resize(3)(ember.tensor(x)).shape == (2, 3, 3)  # the shorter side becomes 3
    assert T.Resize(4)(np.zeros((8, 16, 3), np.uint8)).shape == (4, 8, 3)


def test_affine_translate_scale_and_reproducible():
    img = np.zeros((9, 9, 1), dtype=np.float32)
    img[4, 4] = 1.0
    moved = T.affine(img, translate=(2, -1))
    assert moved[3, 6, 0] == 1.0 and moved.sum() == 1.0
    big = T.affine(img, scale=3.0)
    assert big[3:6, 3:6].sum() == 9.0 and big.sum() == 9.0
    aug = T.RandomAffine(degrees=15, translate=(0.1, 0.1), scale=(0.9, 1.1), shear=5)
    t = T.ToTensor()(_img(8, 8))
    ember.manual_seed(3)
    a = aug(t).numpy()
    ember.manual_seed(3)
    b = aug(t).numpy()
    ember.manual_seed(4)
    c = aug(t).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    g1 = T.RandomRotation(20, generator=ember.Generator().manual_seed(1))
    g2 = T.RandomRotation(20, generator=ember.Generator().manual_seed(1))
    np.testing.assert_array_equal(g1(t).numpy(), g2(t).numpy())
    assert T.RandomAffine(0)(t).numpy().tolist() == t.numpy().tolist()


def test_compose_pipeline():
    pipe = T.Compose([T.RandomCrop(6, padding=1), T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize((0.5,), (0.5,))])
    out = pipe(_img(6, 6, 1))
    assert out.shape == (1, 6, 6) and out.dtype == ember.float32
    assert float(out.min()) >= -1 - 1e-6 and float(out.max()) <= 1 + 1e-6
    assert "RandomCrop" in repr(pipe) or "Compose" in repr(pipe)
