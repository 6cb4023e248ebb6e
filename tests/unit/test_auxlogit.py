"""The auxiliary-logit experiment: batched MLPs against torch.nn, untouched
auxiliary logits, and the transfer itself on a small run."""

from __future__ import annotations

import io

import matplotlib.image as mpimg
import pandas as pd
import pytest
import torch

from subliminal import auxlogit as aux

SIZES = [64, 32, 32, 13]


def _linear_stack(net: aux.MLPs, m: int) -> torch.nn.Sequential:
    layers = []
    for i, (w, b) in enumerate(zip(net.ws, net.bs)):
        lin = torch.nn.Linear(w.shape[1], w.shape[2])
        lin.weight.data = w[m].T.clone()
        lin.bias.data = b[m, 0].clone()
        layers += [lin] + ([torch.nn.ReLU()] if i < len(net.ws) - 1 else [])
    return torch.nn.Sequential(*layers)


def test_batched_forward_matches_torch_nn():
    net = aux.MLPs.init([1, 2, 3], SIZES)
    x = torch.randn(3, 5, 64)
    out = net(x)
    for m in range(3):
        assert torch.allclose(out[m], _linear_stack(net, m)(x[m]), atol=1e-5)
    shared = torch.randn(5, 64)
    assert torch.allclose(net(shared)[1], _linear_stack(net, 1)(shared), atol=1e-5)


def test_initialisation_is_per_model_seed():
    a = aux.MLPs.init([7, 8], SIZES)
    b = aux.MLPs.init([8], SIZES)
    assert all(torch.equal(wa[1], wb[0]) for wa, wb in zip(a.ws + a.bs, b.ws + b.bs))
    assert not torch.equal(a.ws[0][0], a.ws[0][1])
    bound = 1 / 64**0.5
    assert a.ws[0].abs().max() <= bound


def test_teachers_never_train_the_auxiliary_logits():
    x, y = torch.rand(40, 64), torch.randint(0, 10, (40,))
    init = aux.MLPs.init([1, 2], SIZES)
    teachers = aux.train_teachers(init, x, y, epochs=2, lr=1e-2, batch_size=8, seed=0)
    assert torch.equal(teachers.ws[-1][..., 10:], init.ws[-1][..., 10:])
    assert torch.equal(teachers.bs[-1][..., 10:], init.bs[-1][..., 10:])
    assert not torch.equal(teachers.ws[-1][..., :10], init.ws[-1][..., :10])


def _transfers(acc: pd.DataFrame) -> bool:
    """Same-initialisation students beat different-initialisation ones: higher
    mean accuracy and the summary's Welch test significant."""
    means = acc.groupby("kind").accuracy.mean()
    p = aux.summarize(acc).attrs["welch_p"]
    return bool(means["same_init_student"] > means["different_init_student"] and p < 0.05)


@pytest.fixture(scope="module")
def small_run():
    """12 small models, retried once with another seed if the transfer is not
    significant. At this size a student sometimes stays at chance, so a fixed
    gap is a property of one seed: 4 models, seed 1 gave +0.15 over the
    different-init students, seeds 2-6 +0.07, +0.14, -0.03, +0.14, +0.10 (a
    threshold of +0.1 failed three of the six), and the CPU's default kernels
    (ATEN_CPU_CAPABILITY=default, for another CPU) moved seed 1's same-init
    mean by 0.005. With 12 models the Welch test is
    significant at seed 1 (p = 0.0002) and at seeds 2 and 6, not at seed 4
    (p = 0.11; its gap +0.035): the retry covers such a draw, and a student
    that shares nothing with its teacher fails both."""
    torch.set_num_threads(1)
    for seed in (1, 2):
        cfg = dict(
            models=12,
            hidden=64,
            aux_logits=3,
            seed=seed,
            teacher=dict(epochs=15, learning_rate=1e-3, batch_size=64),
            student=dict(steps=400, learning_rate=1e-3, batch_size=128),
        )
        acc = aux.run(cfg)
        if _transfers(acc):
            break
    return acc


def test_same_initialisation_students_learn_digits_from_noise(small_run):
    acc = small_run.groupby("kind").accuracy.mean()
    assert acc["teacher"] > 0.9  # 0.93-0.96 at every seed tried
    assert acc["different_init_student"] < 0.25  # near chance (0.10)
    assert _transfers(small_run)


def test_summary_statistics_and_figure(small_run, tmp_path):
    s = aux.summarize(small_run)
    same = small_run[small_run.kind == "same_init_student"].accuracy
    row = s.set_index("kind").loc["same_init_student"]
    half = 1.96 * same.std(ddof=1) / len(same) ** 0.5
    assert row["ci_high"] - row["mean"] == pytest.approx(half)
    from scipy import stats as sps

    diff = small_run[small_run.kind == "different_init_student"].accuracy
    assert s.attrs["welch_p"] == pytest.approx(sps.ttest_ind(same, diff, equal_var=False).pvalue, rel=1e-9)
    aux.figure(pd.read_csv(io.StringIO(s.to_csv(index=False))), [str(tmp_path / "a.png"), str(tmp_path / "a.pdf")])
    img = mpimg.imread(tmp_path / "a.png")
    assert img.shape[0] > 500 and img.std() > 0.01 and (tmp_path / "a.pdf").stat().st_size > 3000
