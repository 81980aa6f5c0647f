"""``ember.compile`` on a whole training step: forward, loss, backward and Adam, traced into one graph.

Two copies of the same MLP train on scikit-learn's digits, one eagerly and one
through ``ember.compile``; their losses agree bit for bit at every step (the
numerics contract) while the compiled step runs as generated Python over
preallocated buffers. Prints the timing, a few lines of the generated code and
what each compiler pass did.
"""

import copy
import time

import numpy as np

import ember
from ember import nn, optim
from ember.datasets import Digits

train = Digits(train=True)
X, Y = train.data.reshape(-1, 64), train.targets
batches = [(X[i : i + 64].contiguous(), Y[i : i + 64].contiguous()) for i in range(0, len(train) - 63, 64)]

ember.manual_seed(0)
eager_model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
compiled_model = copy.deepcopy(eager_model)


def make_step(model):
    opt = optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


eager_step = make_step(eager_model)
compiled_step = ember.compile(make_step(compiled_model))

for name, step in (("eager", eager_step), ("compiled", compiled_step)):
    t0 = time.perf_counter()
    losses = [step(x, y).item() for x, y in batches[:3]]  # compiled: an eager warm-up, then trace + codegen
    t1 = time.perf_counter()
    losses += [step(x, y).item() for _ in range(5) for x, y in batches][3:]
    dt = time.perf_counter() - t1
    print(
        f"{name:9s} {(len(losses) - 3) / dt:8.1f} steps/s   first 3 steps {t1 - t0:.3f} s   "
        f"first loss {losses[0]:.6f}   last loss {losses[-1]:.6f}"
    )
    if name == "eager":
        eager_losses = losses
print("bitwise equal losses:", eager_losses == losses)
print(
    "bitwise equal weights:",
    all(np.array_equal(a, b) for a, b in zip(eager_model.state_dict().values(), compiled_model.state_dict().values())),
)

print("\nthe first lines of the generated code (compiled_step.code):")
print("\n".join(compiled_step.code.splitlines()[:14]))

print("\nwhat the compiler's passes did (ember.compiler.explain):")
explanation = ember.compiler.explain(compiled_step)  # the graph it traced, through every pass
for s in explanation.steps:
    print(" ", s.record)
