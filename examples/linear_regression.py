"""The seed's linear regression with raw tensors and autograd: y = 2x + 1 + U(0, 1) noise.

Fits w and b by gradient descent (lr 0.5, 200 steps) and prints them with the
loss; the least-squares answer is w ~ 2, b ~ 1.5 (the noise has mean 0.5).
"""

import numpy as np

import ember

rng = np.random.default_rng(0)
x_np = rng.random((100, 1), dtype=np.float32)
y_np = 2 * x_np + 1 + rng.random((100, 1), dtype=np.float32)
x, y = ember.from_numpy(x_np), ember.from_numpy(y_np)

w = ember.zeros(1, 1, requires_grad=True)
b = ember.zeros(1, requires_grad=True)
lr = 0.5

for step in range(200):
    loss = ((x @ w + b - y) ** 2).mean()
    loss.backward()
    with ember.no_grad():
        w -= lr * w.grad
        b -= lr * b.grad
    w.grad = None
    b.grad = None
    if step % 50 == 0:
        print(f"step {step:3d}  loss {loss.item():.6f}")

print(f"w = {w.item():.4f}  b = {b.item():.4f}  loss = {loss.item():.6f}")
