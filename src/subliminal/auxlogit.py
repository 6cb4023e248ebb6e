"""The paper's auxiliary-logit experiment (its MNIST result), on many small
MLPs trained side by side.

Each model is an MLP in -> h -> h -> (10 + k) with ReLU. A teacher is trained
with cross-entropy on the 10 class logits only; its k auxiliary logits are
never trained. A student starts from the teacher's *initial* weights (or,
as the control, from another initialisation) and is trained only to match
the teacher's auxiliary logits (KL between their softmaxes) on random noise
inputs: it never sees a digit or a class logit. It is then scored on the
digit test set through its class logits.

M models are one set of stacked weights trained with batched matrix
products: model i's numbers are those it would have alone (its own seed, its
own batches), which the tests check against ``torch.nn.Linear``.
Offline by default on ``sklearn.datasets.load_digits`` (8x8 images); a path
to an ``.npz`` with ``x_train, y_train, x_test, y_test`` (e.g. MNIST) is used
instead when given.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

log = logging.getLogger(__name__)
N_CLASSES = 10


# ----------------------------------------------------------------------------- data


def load_data(source: str = "digits", test_fraction: float = 0.33, seed: int = 0):
    """(x_train, y_train, x_test, y_test) as float32 / int64 tensors, pixels in [0, 1]."""
    if source == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        d = load_digits()
        x = d.data.astype(np.float32) / 16.0
        xtr, xte, ytr, yte = train_test_split(
            x, d.target, test_size=test_fraction, random_state=seed, stratify=d.target
        )
    else:
        with np.load(source) as f:
            xtr, ytr, xte, yte = (f[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        scale = 255.0 if xtr.max() > 1.0 else 1.0
        xtr = xtr.reshape(len(xtr), -1).astype(np.float32) / scale
        xte = xte.reshape(len(xte), -1).astype(np.float32) / scale
    return (
        torch.from_numpy(np.ascontiguousarray(xtr)),
        torch.as_tensor(ytr, dtype=torch.long),
        torch.from_numpy(np.ascontiguousarray(xte)),
        torch.as_tensor(yte, dtype=torch.long),
    )


# ----------------------------------------------------------------------------- batched MLP


@dataclass
class MLPs:
    """M MLPs as stacked weights: ws[l] is (M, in, out), bs[l] is (M, 1, out)."""

    ws: list[torch.Tensor]
    bs: list[torch.Tensor]

    @classmethod
    def init(cls, seeds: list[int], sizes: list[int]) -> "MLPs":
        """nn.Linear's default initialisation, one generator per model seed."""
        ws = [torch.empty(len(seeds), a, b) for a, b in zip(sizes[:-1], sizes[1:])]
        bs = [torch.empty(len(seeds), 1, b) for b in sizes[1:]]
        for m, seed in enumerate(seeds):
            gen = torch.Generator().manual_seed(int(seed))
            for w, b in zip(ws, bs):
                bound = 1.0 / math.sqrt(w.shape[1])
                # kaiming_uniform(a=sqrt(5)) on fan_in gives U(-1/sqrt(fan_in), 1/sqrt(fan_in))
                w[m].uniform_(-bound, bound, generator=gen)
                b[m].uniform_(-bound, bound, generator=gen)
        return cls(ws, bs)

    def clone(self) -> "MLPs":
        return MLPs([w.clone() for w in self.ws], [b.clone() for b in self.bs])

    def parameters(self) -> list[torch.Tensor]:
        return self.ws + self.bs

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x: (M, B, in) or (B, in) shared by all models -> (M, B, out)."""
        if x.dim() == 2:
            x = x.unsqueeze(0).expand(self.ws[0].shape[0], -1, -1)
        for i, (w, b) in enumerate(zip(self.ws, self.bs)):
            x = torch.baddbmm(b, x, w)
            if i < len(self.ws) - 1:
                x = torch.relu(x)
        return x


def _batches(n: int, batch_size: int, models: int, gen: torch.Generator):
    """One random permutation per model per epoch, cut into batches: (M, B) indices."""
    perm = torch.stack([torch.randperm(n, generator=gen) for _ in range(models)])
    for start in range(0, n, batch_size):
        yield perm[:, start : start + batch_size]


def _step(opt, loss: torch.Tensor) -> None:
    """One optimiser step on ``loss`` (the teachers' and the students' loops)."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _trainable_copy(net: MLPs, lr: float, seed: int):
    """A copy of ``net`` with gradients on, its Adam optimiser, and the
    generator that draws its batches."""
    net = net.clone()
    opt = torch.optim.Adam([p.requires_grad_() for p in net.parameters()], lr=lr)
    return net, opt, torch.Generator().manual_seed(seed)


def _frozen(net: MLPs) -> MLPs:
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def train_teachers(net: MLPs, x, y, *, epochs: int, lr: float, batch_size: int, seed: int) -> MLPs:
    """Cross-entropy on the class logits only (the auxiliary logits get no gradient)."""
    net, opt, gen = _trainable_copy(net, lr, seed)
    m = net.ws[0].shape[0]
    for epoch in range(epochs):
        for idx in _batches(len(x), batch_size, m, gen):
            logits = net(x[idx])[..., :N_CLASSES]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, N_CLASSES), y[idx].reshape(-1)) * m
            _step(opt, loss)
        if (epoch + 1) % 10 == 0 or epoch + 1 == epochs:
            log.info("teachers epoch %d/%d loss %.4f", epoch + 1, epochs, loss.item() / m)
    return _frozen(net)


def distill_aux(
    student: MLPs,
    teacher: MLPs,
    *,
    steps: int,
    lr: float,
    batch_size: int,
    seed: int,
    in_dim: int,
    noise: str = "normal",
) -> MLPs:
    """Train each student on noise to match its teacher's auxiliary logits
    only: KL(softmax(teacher aux) || softmax(student aux))."""
    student, opt, gen = _trainable_copy(student, lr, seed)
    m = student.ws[0].shape[0]
    for step in range(steps):
        shape = (m, batch_size, in_dim)
        x = torch.randn(shape, generator=gen) if noise == "normal" else torch.rand(shape, generator=gen) * 2 - 1
        with torch.no_grad():
            target = torch.log_softmax(teacher(x)[..., N_CLASSES:], -1)
        logp = torch.log_softmax(student(x)[..., N_CLASSES:], -1)
        loss = (target.exp() * (target - logp)).sum(-1).mean() * m
        _step(opt, loss)
        if (step + 1) % 500 == 0 or step + 1 == steps:
            log.info("students step %d/%d KL %.5f", step + 1, steps, loss.item() / m)
    return _frozen(student)


@torch.no_grad()
def accuracy(net: MLPs, x, y) -> np.ndarray:
    """Per-model test accuracy through the class logits."""
    pred = net(x)[..., :N_CLASSES].argmax(-1)
    return (pred == y.unsqueeze(0)).float().mean(1).numpy()


# ----------------------------------------------------------------------------- experiment


def run(cfg: dict) -> pd.DataFrame:
    """The whole experiment; one row per model with its test accuracy."""
    torch.manual_seed(cfg.get("seed", 0))
    xtr, ytr, xte, yte = load_data(cfg.get("dataset", "digits"), seed=cfg.get("seed", 0))
    m, hidden, k = cfg["models"], cfg.get("hidden", 256), cfg.get("aux_logits", 3)
    sizes = [xtr.shape[1], hidden, hidden, N_CLASSES + k]
    base_seed = cfg.get("seed", 0) * 100_000
    init = MLPs.init([base_seed + i for i in range(m)], sizes)
    other = MLPs.init([base_seed + 50_000 + i for i in range(m)], sizes)
    t, s = cfg["teacher"], cfg["student"]
    teachers = train_teachers(
        init, xtr, ytr, epochs=t["epochs"], lr=t["learning_rate"], batch_size=t["batch_size"], seed=base_seed + 1
    )
    kw = dict(
        steps=s["steps"],
        lr=s["learning_rate"],
        batch_size=s["batch_size"],
        in_dim=xtr.shape[1],
        noise=s.get("noise", "normal"),
    )
    same = distill_aux(init, teachers, seed=base_seed + 2, **kw)
    diff = distill_aux(other, teachers, seed=base_seed + 2, **kw)
    rows = []
    for kind, net in (
        ("teacher", teachers),
        ("same_init_student", same),
        ("different_init_student", diff),
        ("untrained", init),
    ):
        for i, acc in enumerate(accuracy(net, xte, yte)):
            rows.append({"kind": kind, "model": i, "accuracy": float(acc)})
    return pd.DataFrame(rows)


def summarize(acc: pd.DataFrame) -> pd.DataFrame:
    """Mean and the paper's error bar (1.96 sd / sqrt(N)) per kind, and a Welch
    t-test of same-init against different-init students (statsmodels)."""
    from statsmodels.stats.weightstats import ttest_ind

    rows = []
    for kind, g in acc.groupby("kind", sort=False):
        v = g["accuracy"].to_numpy()
        half = 1.96 * v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else math.nan
        rows.append(
            {"kind": kind, "n": len(v), "mean": v.mean(), "ci_low": v.mean() - half, "ci_high": v.mean() + half}
        )
    out = pd.DataFrame(rows)
    same = acc.loc[acc.kind == "same_init_student", "accuracy"].to_numpy()
    diff = acc.loc[acc.kind == "different_init_student", "accuracy"].to_numpy()
    t, p, df = ttest_ind(same, diff, usevar="unequal")
    out.attrs.update(welch_t=float(t), welch_p=float(p), welch_df=float(df))
    out["welch_p_same_vs_different"] = float(p)
    return out


def figure(summary: pd.DataFrame, out_paths: list[str], chance: float = 0.1) -> None:
    """The figure (:func:`subliminal.plots.auxlogit_bars`; it lives there so
    that the figure's job needs no torch)."""
    from .plots import auxlogit_bars

    auxlogit_bars(summary, out_paths, chance)
