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


@pytest.fixture(scope="module")
def small_run():
    cfg = dict(
        models=4,
        hidden=64,
        aux_logits=3,
        seed=1,
        teacher=dict(epochs=15, learning_rate=1e-3, batch_size=64),
        student=dict(steps=400, learning_rate=1e-3, batch_size=128),
    )
    torch.set_num_threads(1)
    return aux.run(cfg)


def test_same_initialisation_students_learn_digits_from_noise(small_run):
    acc = small_run.groupby("kind").accuracy.mean()
    assert acc["teacher"] > 0.9
    assert acc["different_init_student"] < 0.25  # near chance (0.10)
    assert acc["same_init_student"] > acc["different_init_student"] + 0.1


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
