import pytest
import torch

from tsdiff.core import Condition
from tsdiff.models import CSDIDenoiser, build_model


def _inputs(b=3, k=5, l=7, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, k, l, generator=g)
    mask = torch.rand(b, k, l, generator=g) < 0.4
    return (
        x,
        torch.randint(0, 50, (b,), generator=g).float(),
        Condition(observed=torch.randn(b, k, l, generator=g), obs_mask=mask),
    )


def test_reference_preset_has_the_reference_parameter_count():
    model = CSDIDenoiser.preset("reference", n_features=35)
    assert sum(p.numel() for p in model.parameters()) == 414_065  # ermongroup/CSDI at K = 35


@pytest.mark.parametrize("attention", ["softmax", "linear"])
def test_output_shape_and_masked_inputs_are_ignored(attention):
    model = CSDIDenoiser.preset("small", n_features=5, attention=attention).eval()
    torch.nn.init.normal_(model.output.weight)  # the zero-initialised output would hide everything
    x, t, cond = _inputs()
    out = model(x, t, cond)
    assert out.shape == x.shape
    # the noisy input is not read where a value is observed, and observed values are not read elsewhere
    x2 = torch.where(cond.obs_mask, x + 100.0, x)
    obs2 = torch.where(cond.obs_mask, cond.observed, cond.observed - 100.0)
    cond2 = Condition(observed=obs2, obs_mask=cond.obs_mask)
    torch.testing.assert_close(model(x2, t, cond2), out)
    # ... but both matter where they are read
    assert not torch.allclose(model(x + 1.0, t, cond), out)
    assert not torch.allclose(model(x, t, Condition(observed=cond.observed + 1.0, obs_mask=cond.obs_mask)), out)


def test_model_depends_on_step_and_time_positions():
    model = CSDIDenoiser.preset("small", n_features=5).eval()
    torch.nn.init.normal_(model.output.weight)
    x, t, cond = _inputs()
    out = model(x, t, cond)
    assert not torch.allclose(model(x, t + 5, cond), out)
    shifted = Condition(observed=cond.observed, obs_mask=cond.obs_mask, side=torch.arange(7.0).expand(3, 7) * 2)
    assert not torch.allclose(model(x, t, shifted), out)


def test_rebuild_from_description_and_bad_shapes():
    model = CSDIDenoiser.preset("small", n_features=4)
    rebuilt = build_model(model.describe())
    rebuilt.load_state_dict(model.state_dict())
    with pytest.raises(ValueError, match="K=4"):
        model(torch.randn(2, 5, 6), torch.zeros(2))
    with pytest.raises(ValueError, match="unknown CSDI preset"):
        CSDIDenoiser.preset("huge", 4)
    with pytest.raises(ValueError, match="divisible"):
        CSDIDenoiser(n_features=4, channels=30, heads=8)
