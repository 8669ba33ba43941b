"""Property-based checks of the core's exact identities (hypothesis)."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from tsdiff.core import convert, get_schedule

PARAMS = st.sampled_from(["eps", "x0", "v", "score"])


@settings(max_examples=60, deadline=None)
@given(ab=st.floats(1e-4, 1 - 1e-4), x0=st.floats(-5, 5), eps=st.floats(-5, 5), src=PARAMS, dst=PARAMS)
def test_conversions_are_exact_inverses(ab, x0, eps, src, dst):
    alpha_bar = torch.tensor([ab], dtype=torch.float64)
    x_t = torch.tensor([[ab**0.5 * x0 + (1 - ab) ** 0.5 * eps]], dtype=torch.float64)
    pred = convert(torch.tensor([[eps]], dtype=torch.float64), x_t, alpha_bar, "eps", src)
    there = convert(pred, x_t, alpha_bar, src, dst)
    back = convert(there, x_t, alpha_bar, dst, src)
    torch.testing.assert_close(back, pred, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(
        convert(pred, x_t, alpha_bar, src, "x0"),
        torch.tensor([[x0]], dtype=torch.float64),
        rtol=1e-6,
        atol=1e-6 / ab**0.5,
    )


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(["linear", "cosine", "quadratic", "sigmoid", "karras"]),
    n=st.integers(2, 300),
    frac=st.floats(0, 1),
)
def test_continuous_step_round_trip_any_schedule(name, n, frac):
    s = get_schedule(name, n)
    t = torch.tensor([frac * (n - 1)], dtype=torch.float64)
    torch.testing.assert_close(s.sigma_to_t(s.t_to_sigma(t)), t, rtol=1e-9, atol=1e-7)
