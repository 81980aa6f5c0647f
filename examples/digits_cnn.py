"""A small CNN on scikit-learn's 8x8 digits, written as a PyTorch program (only the import names ember).

Augments the training images with small random rotations, shifts and scalings,
trains with Adam and a one-cycle schedule, shows a tqdm progress bar and prints
the test accuracy (about 99% after the default 20 epochs).

    python examples/digits_cnn.py            # full run
    python examples/digits_cnn.py --quick    # a few steps, for smoke tests
"""

import argparse
import time

from tqdm import tqdm

import ember as torch
import ember.nn as nn
import ember.optim as optim
from ember.datasets import Digits
from ember.utils.data import DataLoader
from ember.vision import transforms as T


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 4x4 -> 2x2
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(64 * 2 * 2, 128), nn.ReLU(), nn.Linear(128, 10))

    def forward(self, x):
        return self.classifier(self.features(x))


def evaluate(model, loader):
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
            total += y.shape[0]
    model.train()
    return correct / total


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--workers", type=int, default=0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="one short epoch (smoke test)")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    augment = T.Compose([T.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1), interpolation="bilinear")])
    train = Digits(train=True, seed=args.seed, transform=augment)
    test = Digits(train=False, seed=args.seed)
    g = torch.Generator().manual_seed(args.seed)
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, generator=g, num_workers=args.workers)
    test_loader = DataLoader(test, batch_size=256)

    model = Net()
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=args.lr)
    epochs = 1 if args.quick else args.epochs
    steps_per_epoch = 3 if args.quick else len(train_loader)
    scheduler = optim.lr_scheduler.OneCycleLR(optimizer, max_lr=args.lr, total_steps=epochs * steps_per_epoch)

    start = time.perf_counter()
    bar = tqdm(total=epochs * steps_per_epoch, desc="digits CNN", unit="step")
    for _epoch in range(epochs):
        for step, (x, y) in enumerate(train_loader):
            if step == steps_per_epoch:
                break
            optimizer.zero_grad()
            loss = criterion(model(x), y)
            loss.backward()
            optimizer.step()
            scheduler.step()
            bar.set_postfix(loss=f"{loss.item():.4f}", lr=f"{scheduler.get_last_lr()[0]:.2e}")
            bar.update()
    bar.close()
    acc = evaluate(model, test_loader)
    print(f"test accuracy: {acc * 100:.2f}% ({len(test)} images, {time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
