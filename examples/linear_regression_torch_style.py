"""The seed's linear regression written as a PyTorch program; only the import names ember.

y = 2x + 1 + U(0, 1) noise; nn.Linear(1, 1), nn.MSELoss and optim.SGD(lr=0.5).
The least-squares answer is w ~ 2, b ~ 1.5 (the noise has mean 0.5).
"""

import numpy as np

import ember as torch
import ember.nn as nn
import ember.optim as optim

rng = np.random.default_rng(0)
x_train = rng.random((100, 1), dtype=np.float32)
y_train = 2 * x_train + 1 + rng.random((100, 1), dtype=np.float32)
x = torch.from_numpy(x_train)
y = torch.from_numpy(y_train)

torch.manual_seed(0)
model = nn.Linear(1, 1)
criterion = nn.MSELoss()
optimizer = optim.SGD(model.parameters(), lr=0.5)

for epoch in range(200):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    if epoch % 50 == 0:
        print(f"epoch {epoch:3d}  loss {loss.item():.6f}")

w, b = model.weight.item(), model.bias.item()
print(f"w = {w:.4f}  b = {b:.4f}  loss = {loss.item():.6f}")
