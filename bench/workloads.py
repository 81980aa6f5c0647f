"""The standard workloads of shared/BENCHMARKS.md, written once for any torch-like module.

``build(lib, name)`` returns the model, its optimizer factory, loss function
and a pool of 16 seeded batches; the same code runs under ``torch`` and under
``ember`` (``import ember as torch`` style), and ember's model starts from
PyTorch's initial weights (copied through NumPy) so first-step losses agree.
"""

from __future__ import annotations

import numpy as np

WORKLOADS = ["linreg", "mlp_small", "mlp_large", "lenet", "resnet20", "lstm_lm", "gpt_mini"]


def _mlp(nn, sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _lenet(nn):
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def _resnet20(lib):
    nn, F = lib.nn, lib.nn.functional

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.shortcut = nn.Sequential()
            if stride != 1 or cin != cout:
                self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
            self.bn = nn.BatchNorm2d(16)
            layers, cin = [], 16
            for cout, stride in ((16, 1), (32, 2), (64, 2)):
                for i in range(3):
                    layers.append(Block(cin, cout, stride if i == 0 else 1))
                    cin = cout
            self.layers = nn.Sequential(*layers)
            self.fc = nn.Linear(64, 10)

        def forward(self, x):
            out = self.layers(F.relu(self.bn(self.conv(x))))
            out = out.mean(dim=(2, 3))
            return self.fc(out)

    return ResNet20()


def _lstm_lm(lib):
    nn = lib.nn

    class LSTMLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(1000, 128)
            self.lstm = nn.LSTM(128, 256)
            self.head = nn.Linear(256, 1000)

        def forward(self, ids):
            out, _ = self.lstm(self.emb(ids))
            return self.head(out)

    return LSTMLM()


def _gpt_mini(lib, n_layer=4, n_head=4, n_embd=128, block=64, vocab=65):
    nn, F = lib.nn, lib.nn.functional

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_attn = nn.Linear(n_embd, 3 * n_embd)
            self.c_proj = nn.Linear(n_embd, n_embd)
            self.register_buffer("mask", lib.tril(lib.ones(block, block)).view(1, 1, block, block) == 0)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(x).split(n_embd, dim=2)
            q = q.view(B, T, n_head, C // n_head).transpose(1, 2)
            k = k.view(B, T, n_head, C // n_head).transpose(1, 2)
            v = v.view(B, T, n_head, C // n_head).transpose(1, 2)
            att = (q @ k.transpose(-2, -1)) * (1.0 / (k.shape[-1] ** 0.5))
            att = att.masked_fill(self.mask[:, :, :T, :T], float("-inf"))
            att = F.softmax(att, dim=-1)
            y = (att @ v).transpose(1, 2).contiguous().view(B, T, C)
            return self.c_proj(y)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(n_embd)
            self.attn = Attention()
            self.ln_2 = nn.LayerNorm(n_embd)
            self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(), nn.Linear(4 * n_embd, n_embd))

        def forward(self, x):
            x = x + self.attn(self.ln_1(x))
            return x + self.mlp(self.ln_2(x))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, n_embd)
            self.wpe = nn.Embedding(block, n_embd)
            self.h = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(n_embd)
            self.lm_head = nn.Linear(n_embd, vocab, bias=False)
            self.wte.weight = self.lm_head.weight  # tied output head

        def forward(self, idx):
            T = idx.shape[1]
            pos = lib.arange(0, T, dtype=lib.long)
            x = self.wte(idx) + self.wpe(pos)
            for blk in self.h:
                x = blk(x)
            return self.lm_head(self.ln_f(x))

    return GPT()


def data(name, pool=16, seed=0):
    """16 seeded synthetic batches (linreg: its one full batch), as NumPy arrays."""
    rng = np.random.default_rng(seed)
    if name == "linreg":
        x = rng.random((100, 1), dtype=np.float32)
        return [(x, 2 * x + 1 + rng.random((100, 1), dtype=np.float32))]
    shapes = {
        "mlp_small": ((32, 64), 10),
        "mlp_large": ((512, 784), 10),
        "lenet": ((64, 1, 28, 28), 10),
        "resnet20": ((32, 3, 32, 32), 10),
    }
    if name in shapes:
        shape, classes = shapes[name]
        return [
            (rng.standard_normal(shape, dtype=np.float32), rng.integers(0, classes, shape[0]).astype(np.int64))
            for _ in range(pool)
        ]
    if name == "lstm_lm":
        return [
            (rng.integers(0, 1000, (35, 32)).astype(np.int64), rng.integers(0, 1000, (35, 32)).astype(np.int64))
            for _ in range(pool)
        ]
    if name == "gpt_mini":
        return [
            (rng.integers(0, 65, (16, 64)).astype(np.int64), rng.integers(0, 65, (16, 64)).astype(np.int64))
            for _ in range(pool)
        ]
    raise KeyError(name)


def build(lib, name):
    """(model, optimizer factory, loss(model, x, y)) for workload ``name`` in framework ``lib``."""
    nn, optim, F = lib.nn, lib.optim, lib.nn.functional
    if name == "linreg":
        model = nn.Linear(1, 1)
        with lib.no_grad():
            model.weight.zero_()
            model.bias.zero_()
        return model, lambda p: optim.SGD(p, lr=0.5), lambda m, x, y: F.mse_loss(m(x), y)
    if name == "mlp_small":
        model = _mlp(nn, [64, 128, 128, 10])
        return model, lambda p: optim.Adam(p, lr=1e-3), lambda m, x, y: F.cross_entropy(m(x), y)
    if name == "mlp_large":
        model = _mlp(nn, [784, 2048, 2048, 10])
        return model, lambda p: optim.SGD(p, lr=0.01, momentum=0.9), lambda m, x, y: F.cross_entropy(m(x), y)
    if name == "lenet":
        return _lenet(nn), lambda p: optim.SGD(p, lr=0.01, momentum=0.9), lambda m, x, y: F.cross_entropy(m(x), y)
    if name == "resnet20":
        return (
            _resnet20(lib),
            lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=5e-4),
            lambda m, x, y: F.cross_entropy(m(x), y),
        )
    if name == "lstm_lm":
        return (
            _lstm_lm(lib),
            lambda p: optim.Adam(p, lr=1e-3),
            lambda m, x, y: F.cross_entropy(m(x).reshape(-1, 1000), y.reshape(-1)),
        )
    if name == "gpt_mini":
        return (
            _gpt_mini(lib),
            lambda p: optim.AdamW(p, lr=3e-4, weight_decay=0.1),
            lambda m, x, y: F.cross_entropy(m(x).reshape(-1, 65), y.reshape(-1)),
        )
    raise KeyError(name)


def initial_state(model):
    """A model's state as NumPy arrays (to start another framework from the same weights)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def load_state(lib, model, state):
    model.load_state_dict({k: lib.from_numpy(v.copy()) for k, v in state.items()})


def reset_in_place(lib, model, opt, state):
    """Initial weights and zeroed optimizer state written into the existing arrays: the same arithmetic as a
    fresh optimizer, while a compiled step that holds those arrays stays valid."""
    load_state(lib, model, state)
    model.train()
    for st in opt.state.values():
        for v in st.values():
            if isinstance(v, lib.Tensor):
                v._data[...] = 0
