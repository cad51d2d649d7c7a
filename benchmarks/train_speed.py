"""Seconds per training epoch: latentlab's trainer against pytorch/examples' vae/main.py loop.

Both train the 784-400-20 MLP VAE (Bernoulli decoder, BCE + KL, Adam lr 1e-3, batch 128) on
MNIST, on the same device, with the same torch thread count, in one process. Their epochs
are interleaved (latentlab, conventional, latentlab, ...) so that load from other processes
falls on both alike. Only training is timed:

- latentlab: from resuming the ``train`` generator until it yields the epoch's last
  ``StepMetrics`` (with log_every 20 that event comes right after the epoch's last step,
  behind a device sync). The end-of-epoch ``EpochSnapshot`` (test-set pass, latents,
  reconstructions, decoder copy) is timed apart and reported on its own line.
- conventional: the example's ``train(epoch)`` loop: ``DataLoader(MNIST(ToTensor()),
  batch_size=128, shuffle=True)``, ``loss.item()`` every step; its printing is left out.
  On CUDA it uses the example's ``num_workers=1, pin_memory=True``; ``--loader-workers``
  overrides the worker count to measure their effect.

After the last epoch both test losses are reported: BCE + KL per image with one sample of
z on the 10000 test images (latentlab: the last ``EpochSnapshot.test_total``; conventional:
the example's ``test()`` loop summed and divided by 10000).

Usage::

    python benchmarks/train_speed.py [--epochs 3] [--data-dir DIR] [--device auto|cpu|cuda]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import _common  # noqa: F401  (puts the project root on sys.path)
from _common import DATA_DIR_HELP, MnistCopy, environment_lines, mlp_784_400_20_config, print_rows, print_table

import torch
import torch.utils.data
from torch import nn, optim
from torch.nn import functional as F

CPU_BAR = 1.8  # acceptance: latentlab at least this many times faster on the 2-core CPU ...
GPU_BAR = 10.0  # ... and on a GPU


# ---- pytorch/examples vae/main.py, as written there (model, loss, train and test loops) ----


class ExampleVAE(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, 20)
        self.fc22 = nn.Linear(400, 20)
        self.fc3 = nn.Linear(20, 400)
        self.fc4 = nn.Linear(400, 784)

    def encode(self, x):
        h1 = F.relu(self.fc1(x))
        return self.fc21(h1), self.fc22(h1)

    def reparameterize(self, mu, logvar):
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return mu + eps * std

    def decode(self, z):
        h3 = F.relu(self.fc3(z))
        return torch.sigmoid(self.fc4(h3))

    def forward(self, x):
        mu, logvar = self.encode(x.view(-1, 784))
        z = self.reparameterize(mu, logvar)
        return self.decode(z), mu, logvar


# Reconstruction + KL divergence losses summed over all elements and batch
def example_loss(recon_x, x, mu, logvar):
    BCE = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    # see Appendix B from VAE paper: Kingma and Welling, Auto-Encoding Variational Bayes, ICLR 2014
    KLD = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return BCE + KLD


def example_train_epoch(model, optimizer, train_loader, device) -> float:
    """The example's train(epoch), without its prints; returns the mean train loss per image."""
    model.train()
    train_loss = 0
    for batch_idx, (data, _) in enumerate(train_loader):
        data = data.to(device)
        optimizer.zero_grad()
        recon_batch, mu, logvar = model(data)
        loss = example_loss(recon_batch, data, mu, logvar)
        loss.backward()
        train_loss += loss.item()
        optimizer.step()
    return train_loss / len(train_loader.dataset)


def example_test(model, test_loader, device) -> float:
    """The example's test(epoch), without saving images: summed loss / number of test images."""
    model.eval()
    test_loss = 0
    with torch.no_grad():
        for data, _ in test_loader:
            data = data.to(device)
            recon_batch, mu, logvar = model(data)
            test_loss += example_loss(recon_batch, data, mu, logvar).item()
    return test_loss / len(test_loader.dataset)


# ---- the benchmark ----


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg()) + " (1/5/15 min; above the core count, the figures are noisy)"
    except OSError:
        return "unknown"


def fmt_s(values: list[float]) -> str:
    return " ".join(f"{v:7.2f}" for v in values)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10, help="epochs of each loop (default 10, the reference run)")
    p.add_argument("--data-dir", help=DATA_DIR_HELP)
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--threads", type=int, default=None, help="torch intra-op threads for both (default: torch's)")
    p.add_argument(
        "--loader-workers", type=int, default=None,
        help="conventional DataLoader num_workers (default as in the example: 1 with pin_memory on CUDA, 0 on CPU)",
    )
    args = p.parse_args()
    if args.epochs < 1:
        p.error("--epochs must be at least 1")

    from torchvision import datasets, transforms

    from latentlab.core.data import load_dataset
    from latentlab.core.events import EpochSnapshot, RunFinished, RunStarted, StepMetrics
    from latentlab.core.trainer import resolve_device, train

    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cuda = device.type == "cuda"
    workers = args.loader_workers if args.loader_workers is not None else (1 if cuda else 0)
    kwargs = {"num_workers": workers, "pin_memory": cuda} if (cuda or workers) else {}

    with MnistCopy(args.data_dir) as mnist:
        print("train_speed: latentlab trainer vs pytorch/examples vae/main.py, 784-400-20 MLP VAE on MNIST")
        print_rows(
            [*environment_lines(device),
             ("epochs", f"{args.epochs} of each, interleaved (latentlab first)"),
             ("settings", "batch 128, Adam lr 1e-3, BCE + KL, seed 1 for both"),
             ("conventional", f"DataLoader(MNIST(ToTensor()), batch_size=128, shuffle=True"
                              + "".join(f", {k}={v}" for k, v in kwargs.items()) + ")"),
             ("latentlab", "train(config, data, run_dir=None): uint8 tensor on device, fused Adam"),
             ("data source", str(mnist.source))]
        )
        print(flush=True)

        # latentlab: the dataset is loaded once, as the app does before training (not timed).
        data = load_dataset(mlp_784_400_20_config(mnist.root, epochs=1, device="cpu").data)
        cfg = mlp_784_400_20_config(mnist.root, epochs=args.epochs, device=device.type)
        run = train(cfg, data, run_dir=None)
        started = next(run)  # builds the model, moves the data to the device: set-up, not timed
        assert isinstance(started, RunStarted)
        steps_per_epoch = started.steps_per_epoch

        # The conventional loop, seeded after latentlab's set-up (which seeds the global RNG
        # too): the example's own torch.manual_seed(1), so its run is the example's run.
        torch.manual_seed(1)
        train_loader = torch.utils.data.DataLoader(
            datasets.MNIST(mnist.root, train=True, download=True, transform=transforms.ToTensor()),
            batch_size=128, shuffle=True, **kwargs,
        )
        test_loader = torch.utils.data.DataLoader(
            datasets.MNIST(mnist.root, train=False, transform=transforms.ToTensor()),
            batch_size=128, shuffle=False, **kwargs,
        )
        model = ExampleVAE().to(device)
        optimizer = optim.Adam(model.parameters(), lr=1e-3)

        ll_train, ll_snap, ll_train_loss, cv_train, cv_train_loss = [], [], [], [], []
        snap = None
        for epoch in range(1, args.epochs + 1):
            # latentlab: one epoch of steps, up to its last StepMetrics (synced by its .tolist()).
            last_step = epoch * steps_per_epoch
            t0 = time.perf_counter()
            metrics = None
            for event in run:
                if isinstance(event, StepMetrics):
                    metrics = event
                    if event.step == last_step:
                        break
            sync(device)
            t1 = time.perf_counter()
            if metrics is None or metrics.step != last_step:
                raise SystemExit(f"error: latentlab's epoch {epoch} ended without its last StepMetrics")
            snap = next(run)  # the end-of-epoch snapshot: timed apart
            t2 = time.perf_counter()
            if not isinstance(snap, EpochSnapshot) or snap.epoch != epoch:
                raise SystemExit(f"error: expected latentlab's EpochSnapshot of epoch {epoch}, got {snap!r}")
            ll_train.append(t1 - t0)
            ll_snap.append(t2 - t1)
            ll_train_loss.append(metrics.total)

            # conventional: one train(epoch) of the example.
            sync(device)
            t0 = time.perf_counter()
            cv_train_loss.append(example_train_epoch(model, optimizer, train_loader, device))
            sync(device)
            cv_train.append(time.perf_counter() - t0)
            print(
                f"  epoch {epoch}: latentlab {ll_train[-1]:6.2f} s (+ snapshot {ll_snap[-1]:.2f} s), "
                f"conventional {cv_train[-1]:6.2f} s",
                flush=True,
            )
        finished = next(run)
        assert isinstance(finished, RunFinished), finished

        t0 = time.perf_counter()
        cv_test = example_test(model, test_loader, device)
        cv_test_s = time.perf_counter() - t0

    ll_med, cv_med = statistics.median(ll_train), statistics.median(cv_train)
    ratio = cv_med / ll_med
    print()
    print("seconds per training epoch (train steps only)")
    print_table(
        ["loop", "median", "best", "all epochs"],
        [["latentlab", f"{ll_med:.2f}", f"{min(ll_train):.2f}", fmt_s(ll_train)],
         ["conventional", f"{cv_med:.2f}", f"{min(cv_train):.2f}", fmt_s(cv_train)]],
    )
    print()
    print_rows([
        ("speed-up", f"{ratio:.2f}x  (conventional median / latentlab median)"),
        ("speed-up, best epochs", f"{min(cv_train) / min(ll_train):.2f}x  (the least disturbed epoch of each)"),
        ("latentlab snapshot", f"{statistics.median(ll_snap):.2f} s median per epoch ({fmt_s(ll_snap).strip()}), "
                               "not in the epoch times"),
        ("conventional test()", f"{cv_test_s:.2f} s (once, after the run)"),
        ("load average at end", load_average()),
    ], indent="")
    print()
    print(f"test loss after {args.epochs} epoch(s): BCE + KL per image, one sample of z, 10000 test images")
    print_table(
        ["loop", "test loss", "last train loss"],
        [["latentlab", f"{snap.test_total:.2f}", f"{ll_train_loss[-1]:.2f}"],
         ["conventional", f"{cv_test:.2f}", f"{cv_train_loss[-1]:.2f}"]],
    )
    print("  (latentlab's last train loss: mean over the epoch's last log window of 20 steps;")
    print("   conventional: mean over the whole last epoch, as the example prints it)")
    print()
    bar = GPU_BAR if cuda else CPU_BAR
    speed_ok = ratio >= bar
    loss_ok = snap.test_total <= cv_test
    kind = "GPU" if cuda else "CPU"
    print(f"bar ({kind}): latentlab >= {bar:g}x faster: {ratio:.2f}x -> {'PASS' if speed_ok else 'FAIL'}")
    if not cuda:
        print(
            f"bar ({kind}): at equal or lower test loss: {snap.test_total:.2f} vs {cv_test:.2f} "
            f"({snap.test_total - cv_test:+.2f}) -> {'PASS' if loss_ok else 'FAIL'}"
        )
        print("  (one seed each; over seeds 1-6 at 3 epochs each loop's test loss spreads by about +-0.4 nats,\n"
              "   with equal means: differences under about 0.5 nats are noise)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
