"""DiT: shapes on non-square grids and sizes that are not multiples of the patch, adaLN-Zero start, conditioning."""

import pytest
import torch

from tsdiff.core import NULL_LABEL, Condition
from tsdiff.models import build_model
from tsdiff.models.dit import DiTBlock, DiTDenoiser, sincos_2d


def tiny(**kw):
    return DiTDenoiser(**{"in_channels": 3, "width": 32, "depth": 2, "heads": 4, "patch": 4, **kw})


@pytest.mark.parametrize("hw", [(32, 64), (20, 28), (7, 13), (1, 1)])
def test_any_grid_shape(hw):
    model = tiny()
    x = torch.randn(2, 3, *hw)
    out = model(x, torch.tensor([0.0, 500.0]))
    assert out.shape == x.shape


def test_starts_as_zero_prediction_and_identity_blocks():
    model = tiny()
    assert torch.all(model(torch.randn(2, 3, 8, 8), torch.tensor([3.0, 7.0])) == 0)  # zero-init final layer
    block = DiTBlock(32, 4, 4.0)
    x, c = torch.randn(2, 5, 32), torch.randn(2, 32)
    assert torch.equal(block(x, c), x)  # zero gates
    # after a gradient step the output moves: the zero init does not block learning
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x = torch.randn(4, 3, 8, 8)
    for _ in range(2):
        loss = (model(x, torch.zeros(4)) - x).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert model(x, torch.zeros(4)).abs().sum() > 0


def test_dropout_only_in_training():
    model = tiny(dropout=0.5)
    for p in model.parameters():  # leave the zero init, so that the blocks' outputs reach the prediction
        torch.nn.init.normal_(p, std=0.1)
    x, t = torch.randn(2, 3, 8, 8), torch.tensor([3.0, 7.0])
    model.train()
    torch.manual_seed(0)
    a = model(x, t)
    assert not torch.equal(a, model(x, t))  # a fresh mask per call
    model.eval()
    assert torch.equal(model(x, t), model(x, t))
    plain = tiny(dropout=0.0)
    plain.load_state_dict(model.state_dict())
    assert torch.equal(plain.eval()(x, t), model(x, t))  # in evaluation the model is the one without dropout
    with pytest.raises(ValueError, match="dropout"):
        tiny(dropout=1.0)


def test_position_embedding_distinct_per_token():
    emb = sincos_2d(32, 4, 6)
    assert emb.shape == (24, 32)
    assert torch.cdist(emb, emb).add(torch.eye(24)).min() > 1e-3


def test_conditioning_inputs_checked_and_used():
    model = tiny(cond_channels=2, n_classes=5, n_scalars=3)
    torch.nn.init.normal_(model.final.linear.weight)  # make the output depend on the inputs
    for block in model.blocks:
        torch.nn.init.normal_(block.ada[1].weight, std=0.1)
    torch.nn.init.normal_(model.final.ada[1].weight, std=0.1)
    x, t = torch.randn(2, 3, 9, 10), torch.tensor([10.0, 20.0])
    side, scalars = torch.randn(2, 2, 9, 10), torch.rand(2, 3)
    base = model(x, t, Condition(side=side, scalars=scalars, labels=torch.tensor([1, NULL_LABEL])))
    assert not torch.allclose(base, model(x, t, Condition(side=side + 1, scalars=scalars)))
    assert not torch.allclose(base, model(x, t, Condition(side=side, scalars=scalars + 0.5)))
    other = model(x, t, Condition(side=side, scalars=scalars, labels=torch.tensor([2, NULL_LABEL])))
    assert not torch.allclose(base[0], other[0]) and torch.allclose(base[1], other[1])
    with pytest.raises(ValueError, match="side"):
        model(x, t, Condition(scalars=scalars))
    with pytest.raises(ValueError, match="scalars"):
        model(x, t, Condition(side=side))
    with pytest.raises(ValueError, match="labels"):
        model(x, t, Condition(side=side, scalars=scalars, labels=torch.tensor([5, 0])))
    with pytest.raises(ValueError, match="x_t"):
        model(torch.randn(2, 4, 9, 10), t, Condition(side=side, scalars=scalars))


def test_periodic_longitude_padding_wraps():
    model = tiny(periodic_lon=True)
    x = torch.randn(1, 3, 8, 10)  # 10 is not a multiple of 4: two columns padded from the other side
    assert torch.equal(model._pad(x)[..., 10:], x[..., :2])
    assert torch.equal(tiny()._pad(x)[..., 10:], torch.zeros(1, 3, 8, 2))


def test_presets_and_rebuild():
    s2 = DiTDenoiser.preset("S/2", in_channels=4)
    assert (s2.config.depth, s2.config.width, s2.config.heads, s2.config.patch) == (12, 384, 6, 2)
    with pytest.raises(ValueError, match="preset"):
        DiTDenoiser.preset("M/2", in_channels=4)
    model = tiny(n_classes=3)
    clone = build_model(model.describe())
    clone.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(clone(x, torch.ones(2)), model(x, torch.ones(2)))
