"""Synthesis: the Synthesizer, its metrics, baselines, the Stocks loader and the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tsdiff.baselines.synthesis import bootstrap, gaussian, var
from tsdiff.checkpoint import CheckpointError, save_checkpoint
from tsdiff.data.adapters import windows_of
from tsdiff.data.stocks import STOCK_COLUMNS, load_stocks, stock_windows
from tsdiff.metrics import synthesis as M
from tsdiff.tasks.synthesize import Synthesizer

TINY = dict(width=32, depth=1, heads=2, max_steps=30, batch_size=16, n_diffusion_steps=50, sample_steps=5)


def ar1_windows(n=300, length=12, k=2, phi=0.8, seed=0):
    rng = np.random.default_rng(seed)
    x = np.zeros((n, length, k))
    x[:, 0] = rng.normal(size=(n, k))
    for t in range(1, length):
        x[:, t] = phi * x[:, t - 1] + np.sqrt(1 - phi**2) * rng.normal(size=(n, k))
    return x


def unit(x):  # to [0, 1] per feature
    lo, hi = x.min((0, 1)), x.max((0, 1))
    return (x - lo) / (hi - lo)


# --- metrics -----------------------------------------------------------------------------------------------------
def test_discriminative_score_tells_shifted_data_and_not_the_same_distribution():
    a, b = unit(ar1_windows(n=1000, k=4, seed=0)), unit(ar1_windows(n=1000, k=4, seed=1))
    same = M.discriminative_score(a, b, iterations=400, seed=1)
    squashed = M.discriminative_score(a, b[:, ::-1] * 0.5, iterations=400, seed=1)
    assert same < 0.05
    assert squashed > 0.4


def test_predictive_score_is_lower_when_trained_on_data_like_the_real():
    a, b = unit(ar1_windows(k=3, phi=0.9, seed=0)), unit(ar1_windows(k=3, phi=0.9, seed=1))
    a[..., 2] = np.roll(a[..., 0], 1, axis=1) * 0.5 + 0.25  # the last feature follows the first one step later
    b[..., 2] = np.roll(b[..., 0], 1, axis=1) * 0.5 + 0.25
    noise = np.random.default_rng(2).uniform(size=b.shape)
    good = M.predictive_score(a, b, iterations=300, seed=0)
    bad = M.predictive_score(a, noise, iterations=300, seed=0)
    assert good < bad
    with pytest.raises(ValueError, match="2 features"):
        M.predictive_score(a[..., :1], b[..., :1], iterations=1)


def test_scores_trained_side_by_side_equal_each_alone():
    real = unit(ar1_windows(n=60, k=4, seed=0))
    others = [unit(ar1_windows(n=n, k=4, phi=phi, seed=s)) for n, phi, s in [(40, 0.8, 1), (90, 0.2, 2)]]
    pairs = [(real[:30], real[30:]), *((real, x) for x in others)]  # sets of different sizes
    seeds = [0, 1, 1]
    together = M.discriminative_scores(pairs, iterations=15, batch_size=16, seeds=seeds)
    alone = [M.discriminative_score(a, b, iterations=15, batch_size=16, seed=s) for (a, b), s in zip(pairs, seeds)]
    np.testing.assert_allclose(together, alone, atol=1e-6)
    together = M.predictive_scores(pairs, iterations=15, batch_size=16, seeds=seeds)
    alone = [M.predictive_score(a, b, iterations=15, batch_size=16, seed=s) for (a, b), s in zip(pairs, seeds)]
    np.testing.assert_allclose(together, alone, rtol=1e-5)
    assert len(set(np.round(together, 6))) == 3  # three models, not one copied
    with pytest.raises(ValueError, match="one seed per pair"):
        M.predictive_scores(pairs, iterations=1, seeds=[0])
    with pytest.raises(ValueError, match="one length and width"):
        M.discriminative_scores([(real, real), (real[:, :5], real[:, :5])], iterations=1)


def test_frechet_distance_matches_the_gaussian_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(0.0, 1.0, size=(200_000, 1))
    b = rng.normal(1.0, 2.0, size=(200_000, 1))
    assert M.frechet_distance(a, b) == pytest.approx((0 - 1) ** 2 + (1 - 2) ** 2, rel=0.02)
    assert M.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)


def test_context_fid_is_small_for_the_same_distribution_and_large_for_noise():
    a, b = unit(ar1_windows(seed=0)), unit(ar1_windows(seed=1))
    encoder = M.train_ts2vec(a, iterations=20, depth=3, hidden=16, out_dim=32)
    near = M.context_fid(a, b, encoder=encoder)
    far = M.context_fid(a, np.random.default_rng(0).uniform(size=a.shape), encoder=encoder)
    assert 0 <= near < far / 5
    with pytest.raises(ValueError, match="the encoder takes 2 features, the windows have 3"):
        M.context_fid(np.concatenate([a, a[..., :1]], 2), np.concatenate([b, b[..., :1]], 2), encoder=encoder)
    with pytest.raises(ValueError, match="windows of at least 2 steps"):
        M.predictive_score(a[:, :1], b[:, :1], iterations=1)


def test_ts2vec_hierarchical_loss_is_finite_and_decreases_in_training():
    x = torch.randn(4, 8, 16)
    loss = M._hierarchical_loss(x, x + 0.01 * torch.randn_like(x))
    assert torch.isfinite(loss)
    aligned = M._hierarchical_loss(x, x)
    shuffled = M._hierarchical_loss(x, x[torch.randperm(4)][:, torch.randperm(8)])
    assert aligned < shuffled


def test_correlational_score_by_hand():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 10, 1))
    correlated = np.concatenate([z, z], axis=2)  # correlation 1 between the two features
    independent = rng.normal(size=(2000, 10, 2))
    assert M.correlational_score(correlated, correlated) == pytest.approx(0.0, abs=1e-12)
    # lower triangle = [c00, c10, c11]: only c10 differs, by ~1
    assert M.correlational_score(correlated, independent) == pytest.approx(0.1, abs=0.005)
    # a constant synthetic feature correlates with nothing, itself included: c10 and c11 differ by ~1 each
    flat = correlated.copy()
    flat[:, :, 1] = 0.5
    assert M.correlational_score(correlated, flat) == pytest.approx(0.2, abs=0.005)


def test_marginal_distances_and_autocorrelation_error():
    a = ar1_windows(n=500, phi=0.9, seed=0)
    d = M.marginal_distances(a, a + 0.5)
    assert d["wasserstein"] == pytest.approx([0.5, 0.5], abs=1e-9)
    assert (d["ks"] > 0.1).all()
    assert M.autocorrelation_error(a, a) == pytest.approx(0.0, abs=1e-12)
    white = np.random.default_rng(1).normal(size=a.shape)
    assert M.autocorrelation_error(a, white) > 0.3
    for max_lag in (12, 0):
        with pytest.raises(ValueError, match=f"max_lag must be in 1..11, got {max_lag}"):
            M.autocorrelation_error(a, a, max_lag=max_lag)


def test_metrics_reject_bad_input():
    a = ar1_windows(n=20)
    with pytest.raises(ValueError, match="one shape"):
        M.correlational_score(a, a[:, :5])
    bad = a.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        M.discriminative_score(a, bad, iterations=1)
    for options in ({"iterations": 0}, {"iterations": -3}, {"batch_size": 0}):
        with pytest.raises(ValueError, match="an untrained model scores nothing"):
            M.discriminative_score(a, a, **options)
        with pytest.raises(ValueError, match="an untrained model scores nothing"):
            M.predictive_score(a, a, **options)
    with pytest.raises(ValueError, match="NaN or inf"):
        M.train_ts2vec(bad, iterations=1)
    with pytest.raises(ValueError, match="N >= 2"):
        M.frechet_distance(np.ones((1, 3)), np.ones((5, 3)))
    with pytest.raises(ValueError, match="at least 2 steps"):
        M.autocorrelation_error(a[:, :1], a[:, :1])
    with pytest.raises(ValueError, match="a list of scores"):
        M.mean_interval([])


def test_sample_distances_reject_bad_input():
    from tsdiff.metrics.distribution import moment_errors, sliced_wasserstein

    x = torch.randn(50, 2, generator=torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x.numpy(), x.numpy()) == 0.0  # numpy arrays are accepted
    with pytest.raises(ValueError, match="NaN or inf"):
        sliced_wasserstein(x, torch.full_like(x, float("nan")))
    with pytest.raises(ValueError, match="n_projections"):
        sliced_wasserstein(x, x, n_projections=0)
    with pytest.raises(ValueError, match="one shape"):
        sliced_wasserstein(x[:0], x[:0])
    m_err, _ = moment_errors(x, torch.zeros(2), torch.eye(2))  # a zero true mean: the absolute error
    assert m_err == pytest.approx(float(x.mean(0).norm()))
    with pytest.raises(ValueError, match="N >= 2"):
        moment_errors(x[:1], torch.zeros(2), torch.eye(2))


def test_repeated_gives_mean_and_t_interval():
    mean, half = M.repeated(lambda seed: float(seed), runs=5)
    assert mean == 2.0
    assert half == pytest.approx(2.776 * np.std([0, 1, 2, 3, 4], ddof=1) / np.sqrt(5), rel=1e-3)


# --- baselines ---------------------------------------------------------------------------------------------------
def test_baselines_shapes_and_what_they_keep():
    real = ar1_windows(n=400, length=10, k=2, phi=0.9)
    boot = bootstrap(real, 50, seed=0)
    assert boot.shape == (50, 10, 2)
    assert all((np.abs(real - w).sum((1, 2)) == 0).any() for w in boot)  # every window is a real one
    g = gaussian(real, 4000, seed=0)
    assert np.abs(g.mean(0) - real.mean(0)).max() < 0.15
    v = var(real, 2000, seed=0, order=1)
    lag1 = lambda x: np.mean(x[:, 1:] * x[:, :-1]) / np.mean(x * x)  # noqa: E731
    assert lag1(v) == pytest.approx(lag1(real), abs=0.08)
    with pytest.raises(ValueError, match="n must be positive"):
        bootstrap(real, 0)
    with pytest.raises(ValueError, match="order"):
        var(real, 5, order=10)


# --- data ----------------------------------------------------------------------------------------------------------
@pytest.fixture
def stock_csv(tmp_path):
    rng = np.random.default_rng(0)
    close = 50 + np.cumsum(rng.normal(size=60))
    df = pd.DataFrame({c: close + i for i, c in enumerate(STOCK_COLUMNS)})
    df["Volume"] = rng.integers(1_000, 5_000, size=60).astype(float)
    path = tmp_path / "stock_data.csv"
    df.to_csv(path, index=False)
    return path


def test_stock_windows_follow_the_protocol(stock_csv):
    x, scaler = stock_windows(stock_csv, seq_len=24)
    assert x.shape == (60 - 24 + 1, 24, 6)
    assert x.min() == pytest.approx(0.0, abs=1e-12) and x.max() == pytest.approx(1.0)
    raw = load_stocks(stock_csv)
    np.testing.assert_allclose(scaler.inverse_transform(x[0]), raw.to_numpy()[:24])
    np.testing.assert_array_equal(load_stocks(stock_csv, reverse=True).to_numpy(), raw.to_numpy()[::-1])


def test_stock_loader_errors(tmp_path, stock_csv):
    pd.read_csv(stock_csv).drop(columns="Volume").to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="Volume"):
        load_stocks(tmp_path / "bad.csv")
    with pytest.raises(FileNotFoundError):
        load_stocks(tmp_path / "none.csv")
    with pytest.raises(ValueError, match="longer than the series"):
        windows_of(np.zeros((10, 2)), 24)
    good = pd.read_csv(stock_csv)
    with pytest.raises(ValueError, match=r"columns \['High'\] hold inf"):
        load_stocks(good.assign(High=good["High"].where(good.index != 3, np.inf)))
    with pytest.raises(ValueError, match=r"columns \['Volume'\] are constant"):
        load_stocks(good.assign(Volume=7.0))
    with pytest.raises(ValueError, match=r"columns \['Open'\] are not numeric"):
        load_stocks(good.assign(Open="x"))
    with pytest.raises(ValueError, match="both 'Adj Close' and 'Adj_Close'"):
        load_stocks(good.assign(**{"Adj Close": good["Adj_Close"]}))
    newest_first = good.iloc[:30].set_axis(pd.date_range("2020-01-01", periods=30).strftime("%Y-%m-%d")[::-1])
    with pytest.raises(ValueError, match="dates are not sorted oldest first"):
        load_stocks(newest_first)
    assert len(load_stocks(newest_first.iloc[::-1])) == 30


def test_other_price_tables_in_yahoo_spelling(stock_csv):
    """A DataFrame with a DatetimeIndex and Yahoo's "Adj Close" (as arch's S&P 500 file) gets the same windows."""
    raw = pd.read_csv(stock_csv).rename(columns={"Adj_Close": "Adj Close"})
    raw.index = pd.date_range("2020-01-01", periods=len(raw), freq="B", name="Date")
    before = raw.copy()
    x, _ = stock_windows(raw[["Volume", "Adj Close", "Open", "High", "Low", "Close"]])  # any column order
    np.testing.assert_allclose(x, stock_windows(stock_csv)[0], atol=1e-12)
    pd.testing.assert_frame_equal(raw, before)  # the caller's frame is untouched
    with pytest.raises(ValueError, match="not sorted"):
        load_stocks(raw.iloc[::-1])
    with pytest.raises(ValueError, match="repeat"):
        load_stocks(raw.iloc[[0, 1, 1, 2]])
    gap = raw.copy()
    gap.iloc[3, 0] = np.nan
    with pytest.raises(ValueError, match="1 missing values"):
        load_stocks(gap)


def test_price_files_with_a_date_column(tmp_path, stock_csv):
    """A Yahoo-style CSV (Date column) is read oldest first; newest first or repeated dates are errors."""
    raw = pd.read_csv(stock_csv)
    raw.insert(0, "Date", pd.date_range("2020-01-01", periods=len(raw), freq="B").strftime("%Y-%m-%d"))
    raw.to_csv(tmp_path / "yahoo.csv", index=False)
    np.testing.assert_array_equal(load_stocks(tmp_path / "yahoo.csv").to_numpy(), load_stocks(stock_csv).to_numpy())
    raw.iloc[::-1].to_csv(tmp_path / "newest_first.csv", index=False)
    with pytest.raises(ValueError, match="not sorted oldest first"):
        load_stocks(tmp_path / "newest_first.csv")
    raw.assign(Date="not a date").to_csv(tmp_path / "bad_dates.csv", index=False)
    with pytest.raises(ValueError, match="'Date' column does not hold dates"):
        load_stocks(tmp_path / "bad_dates.csv")


# --- the Synthesizer ----------------------------------------------------------------------------------------------
def test_synthesizer_numpy_in_numpy_out_and_save_load(tmp_path):
    real = ar1_windows(n=64, length=12)
    synth = Synthesizer(seq_len=12, progress=False, **TINY).fit(real)
    fake = synth.sample(7, seed=3)
    assert isinstance(fake, np.ndarray) and fake.shape == (7, 12, 2)
    lo, hi = real.min((0, 1)), real.max((0, 1))
    assert (fake >= lo - 1e-9).all() and (fake <= hi + 1e-9).all()  # clipped to the training range
    path = synth.save(tmp_path / "s.pt")
    again = Synthesizer.load(path)
    np.testing.assert_array_equal(again.sample(7, seed=3), fake)
    state = torch.load(path, weights_only=True)
    save_checkpoint(tmp_path / "edited.pt", {k: v for k, v in {**state, "high": [1.0]}.items() if k != "format"})
    with pytest.raises(CheckpointError, match=r"'high' has shape \(1,\) where this model needs \(2,\)"):
        Synthesizer.load(tmp_path / "edited.pt")
    free = Synthesizer.load(path, clip_denoised=False, sampler="heun", sample_steps=3).sample(7, seed=3)
    assert np.isfinite(free).all() and not np.array_equal(free, fake)
    shifted = Synthesizer(seq_len=12, progress=False, log_snr_shift=1.4, **TINY).fit(real)
    torch.testing.assert_close(shifted.schedule_.log_snr, synth.schedule_.log_snr + 1.4)
    again = Synthesizer.load(shifted.save(tmp_path / "shifted.pt"))
    assert again.log_snr_shift == 1.4
    torch.testing.assert_close(again.schedule_.alpha_bar, shifted.schedule_.alpha_bar)


def test_quantile_scaling_spreads_a_heavy_tail_and_inverts(tmp_path):
    real = ar1_windows(n=64, length=12)
    real[..., 1] = np.exp(2.0 * real[..., 1])  # a log-normal feature, like trading volume
    real[:10, :, 1] = 0.0  # a value held by many points (tied knots)
    synth = Synthesizer(seq_len=12, scaling="quantile", n_quantiles=50, progress=False, **TINY)
    synth._fit_scaling(real)
    z = synth._scale(real)
    assert z.min() >= -1 and z.max() <= 1
    assert abs(np.median(z[..., 1][real[..., 1] > 0])) < 0.3  # min-max would put the median near -1
    held = z[:10, :, 1]
    assert np.allclose(held, held.flat[0]) and -1 < held.flat[0] < -0.5  # the middle of the tied probabilities
    distinct = real[10:]  # round trip wherever the knots are not tied
    np.testing.assert_allclose(synth._unscale(synth._scale(distinct)), distinct, rtol=1e-9, atol=1e-12)
    with_gap = real[:2].copy()
    with_gap[0, 3, 0] = np.nan
    assert np.isnan(synth._scale(with_gap)[0, 3, 0])

    synth.fit(real)
    fake = synth.sample(5, seed=1)
    lo, hi = real.min((0, 1)), real.max((0, 1))
    assert (fake >= lo).all() and (fake <= hi).all()
    again = Synthesizer.load(synth.save(tmp_path / "q.pt"))
    np.testing.assert_array_equal(again.knots_, synth.knots_)
    np.testing.assert_array_equal(again.sample(5, seed=1), fake)
    with pytest.raises(ValueError, match="scaling must be"):
        Synthesizer(seq_len=12, scaling="log", progress=False, **TINY).fit(real)


def test_synthesizer_dataframe_in_dataframe_out_and_prefix_kept():
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {"a": np.sin(np.arange(200) / 5), "b": rng.normal(size=200)}, index=pd.date_range("2020", periods=200)
    )
    synth = Synthesizer(seq_len=16, stride=4, progress=False, **TINY).fit(df)
    out = synth.sample(3)
    assert list(out.columns) == ["a", "b"] and out.index.names == ["sample", "step"] and len(out) == 48
    prefix = df.to_numpy()[:6]
    cont = synth.sample(3, prefix=prefix)
    np.testing.assert_array_equal(cont.to_numpy().reshape(3, 16, 2)[:, :6], np.broadcast_to(prefix, (3, 6, 2)))


def test_synthesizer_keeps_integer_column_labels_through_save_and_load(tmp_path):
    """A frame labelled 0..K-1 (``pd.DataFrame(array)``) gets its integer labels back, not their strings."""
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(100, 2)), columns=np.array([3, 7]))  # numpy integers as labels
    synth = Synthesizer(seq_len=8, stride=4, progress=False, **{**TINY, "max_steps": 2}).fit(df)
    assert list(synth.sample(1).columns) == [3, 7]
    loaded = Synthesizer.load(synth.save(tmp_path / "s.pt"))
    assert list(loaded.sample(1).columns) == [3, 7] and all(type(c) is int for c in loaded.columns_)
    mixed = pd.DataFrame(rng.normal(size=(100, 2)), columns=pd.MultiIndex.from_tuples([("p", 1), ("p", 2)]))
    assert Synthesizer(seq_len=8, progress=False, **{**TINY, "max_steps": 2}).fit(mixed).columns_ == [
        "('p', 1)",
        "('p', 2)",
    ]


def test_synthesizer_csdi_backbone_and_missing_training_values():
    real = ar1_windows(n=40, length=8)
    real[::3, 2:4, 1] = np.nan  # gaps are left out of the loss
    synth = Synthesizer(seq_len=8, backbone="csdi", progress=False, **TINY).fit(real)
    assert np.isfinite(synth.train_result_.losses).all()
    observed = np.full((2, 8, 2), np.nan)
    observed[:, 3, 0] = [0.5, -0.5]
    out = synth.sample(2, observed=observed)
    assert out[:, 3, 0].tolist() == [0.5, -0.5] and np.isfinite(out).all()


def test_time_patches_fold_steps_into_tokens_and_learn_the_shape(tmp_path):
    rng = np.random.default_rng(0)
    ramp = np.linspace(-1.0, 1.0, 10)[None, :, None] * np.array([1.0, -1.0])  # (1, 10, 2): up and down
    real = ramp + 0.05 * rng.normal(size=(200, 10, 2))
    options = {**TINY, "max_steps": 300, "sample_steps": 10}
    synth = Synthesizer(seq_len=10, time_patch=4, progress=False, **options)
    x = torch.arange(2 * 2 * 10, dtype=torch.float32).reshape(2, 2, 10)
    field = synth._field(x)  # 10 steps padded to 12: 3 tokens of 2 x 4 channels
    assert field.shape == (2, 8, 1, 3) and (field[:, [2, 3, 6, 7], 0, 2] == 0).all()
    torch.testing.assert_close(synth._unfield(field, 10), x)
    assert not synth._field(torch.ones(1, 2, 10, dtype=torch.bool))[:, [2, 3, 6, 7], 0, 2].any()  # padding: no loss

    synth.fit(real)
    assert synth.model_.config.in_channels == 8
    fake = synth.sample(50, seed=1)
    assert fake.shape == (50, 10, 2)
    assert np.corrcoef(fake.mean(0).ravel(), ramp[0].ravel())[0, 1] > 0.9  # steps come back in their places
    prefix = real[:3, :5]
    np.testing.assert_array_equal(synth.sample(3, prefix=prefix)[:, :5], prefix)
    again = Synthesizer.load(synth.save(tmp_path / "p.pt"))
    assert again.time_patch == 4
    np.testing.assert_array_equal(again.sample(4, seed=2), synth.sample(4, seed=2))
    for bad in (0, 1.5):
        with pytest.raises(ValueError, match="time_patch"):
            Synthesizer(seq_len=10, time_patch=bad, progress=False, **TINY).fit(real)
    with pytest.raises(ValueError, match="time_patch"):
        Synthesizer(seq_len=10, backbone="csdi", time_patch=2, progress=False, **TINY).fit(real)


def test_class_conditional_synthesizer_learns_the_classes():
    rng = np.random.default_rng(0)
    labels = np.array(["up", "down"] * 100)
    level = np.where(labels == "up", 1.0, -1.0)[:, None, None]
    real = level + 0.1 * rng.normal(size=(200, 8, 2))
    synth = Synthesizer(
        seq_len=8, width=32, depth=2, heads=2, max_steps=300, batch_size=32, sample_steps=10, progress=False
    ).fit(real, labels=labels)
    up = synth.sample(20, labels="up", guidance_scale=2.0)
    down = synth.sample(20, labels=["down"] * 20)
    assert up.mean() > 0.5 and down.mean() < -0.5
    with pytest.raises(ValueError, match="unknown class labels"):
        synth.sample(2, labels="sideways")
    for scale in (float("nan"), float("inf"), -1.0):
        with pytest.raises(ValueError, match="guidance scale must be a finite number >= 0"):
            synth.sample(2, labels="up", guidance_scale=scale)


def test_synthesizer_bad_input(tmp_path):
    real = ar1_windows(n=20, length=8)
    with pytest.raises(ValueError, match="labels hold NaN or None"):
        Synthesizer(seq_len=8, progress=False, **TINY).fit(real, labels=[1.0] * 19 + [np.nan])
    with pytest.raises(ValueError, match="constant"):
        Synthesizer(seq_len=8, progress=False, **TINY).fit(np.concatenate([real, np.ones((20, 8, 1))], axis=2))
    with pytest.raises(ValueError, match="longer than the series"):
        Synthesizer(seq_len=50, progress=False, **TINY).fit(np.zeros((10, 2)))
    with pytest.raises(ValueError, match="inf"):
        Synthesizer(seq_len=8, progress=False, **TINY).fit(np.where(real > 2, np.inf, real))
    table = pd.DataFrame(real[:, 0], columns=["a", "b"], index=pd.bdate_range("2024-01-01", periods=20))
    with pytest.raises(TypeError, match=r"columns that are not: \['ticker'\]"):
        Synthesizer(seq_len=8, progress=False, **TINY).fit(table.assign(ticker="XYZ"))
    with pytest.raises(ValueError, match=r"duplicated column names \['a'\]"):
        Synthesizer(seq_len=8, progress=False, **TINY).fit(table.set_axis(["a", "a"], axis=1))
    with pytest.raises(ValueError, match="not sorted"):
        Synthesizer(seq_len=8, progress=False, **TINY).fit(table.iloc[::-1])
    synth = Synthesizer(seq_len=8, progress=False, **TINY).fit(real)
    low = synth.low_.copy()
    with pytest.raises(ValueError, match="one per window"):
        synth.fit(real * 1000, labels=["a", "b"])
    assert np.array_equal(synth.low_, low) and synth.classes_ is None  # a failed fit leaves the fitted model as is
    with pytest.raises(ValueError, match="shift must be finite"):
        synth.log_snr_shift = float("nan")
        synth.fit(real * 1000)
    assert np.array_equal(synth.low_, low)
    synth.log_snr_shift = 0.0
    with pytest.raises(ValueError, match="guidance_scale given without labels"):
        synth.sample(2, guidance_scale=3.0)
    for n in (0, -3, True, 2.0):
        with pytest.raises(ValueError, match="positive"):
            synth.sample(n)
    with pytest.raises(ValueError, match="without labels"):
        synth.sample(2, labels="a")
    with pytest.raises(ValueError, match="prefix"):
        synth.sample(2, prefix=np.zeros((2, 8, 2)))
    before = real.copy()
    Synthesizer(seq_len=8, progress=False, **TINY).fit(real)
    np.testing.assert_array_equal(real, before)  # the caller's data is untouched
    from tsdiff.checkpoint import save_checkpoint

    save_checkpoint(
        tmp_path / "other.pt",
        {"task": "imputation", "model": {}, "model_kind": {}, "schedule": {}, "params": {}, "low": [], "high": []},
    )
    with pytest.raises(CheckpointError, match="not a synthesis model"):
        Synthesizer.load(tmp_path / "other.pt")


def test_cli_synthesize_windows(tmp_path, stock_csv, capsys):
    import yaml

    from tsdiff.cli import main

    (tmp_path / "configs").mkdir()
    config = {
        "task": "windows",
        "data": {"dataset": "stocks", "path": str(stock_csv)},
        "model": {"seq_len": 12, "progress": False, **TINY},
        "n": 5,
    }
    (tmp_path / "configs" / "s.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "synth.npy"
    args = ["synthesize", "--config", str(tmp_path / "configs" / "s.yaml"), "--out", str(out)]
    assert main([*args, "--save", str(tmp_path / "m.pt")]) == 0
    assert np.load(out).shape == (5, 12, 6)
    assert (tmp_path / "synth_plots" / "embedding.png").exists()
    assert main([*args, "--model", str(tmp_path / "m.pt"), "--n", "3", "--out", str(tmp_path / "s.csv")]) == 0
    assert len(pd.read_csv(tmp_path / "s.csv")) == 3 * 12
    assert "correlational score" in capsys.readouterr().out


def test_balance_classes_repeats_rare_windows(monkeypatch):
    import tsdiff.tasks.synthesize as S

    seen = {}
    real_train = S.train

    def spy(model, data, *args, **kwargs):
        seen["labels"] = data[2].clone()
        return real_train(model, data, *args, **kwargs)

    monkeypatch.setattr(S, "train", spy)
    real = ar1_windows(n=100, length=8)
    labels = np.array(["a"] * 91 + ["b"] * 9)
    Synthesizer(seq_len=8, balance_classes=True, progress=False, **{**TINY, "max_steps": 2}).fit(real, labels=labels)
    counts = np.bincount(seen["labels"].numpy())
    assert counts.tolist() == [91, 9 * 4]  # ceil(sqrt(91 / 9)) = 4 repeats of each rare window


def test_cli_synthesize_table_with_gaps_and_bad_configs(tmp_path, stock_csv, capsys):
    import yaml

    from tsdiff.cli import main

    (tmp_path / "configs").mkdir()
    table = pd.read_csv(stock_csv)[["Open", "Volume"]]
    table.iloc[5, 0] = np.nan  # a gap: left out of the loss, of the plots and of the quick scores
    table.to_csv(tmp_path / "gaps.csv")

    def run(data, *extra, model=None):
        config = {"task": "windows", "data": data, "model": model or {"seq_len": 8, "progress": False, **TINY}}
        (tmp_path / "configs" / "t.yaml").write_text(yaml.safe_dump(config))
        return main(["synthesize", "--config", str(tmp_path / "configs" / "t.yaml"), "--n", "4", *extra])

    out = ["--out", str(tmp_path / "t.npy")]
    assert run({"path": "gaps.csv"}, *out, "--save", str(tmp_path / "t.pt")) == 0
    assert "real windows without gaps" in capsys.readouterr().out and np.isfinite(np.load(tmp_path / "t.npy")).all()
    assert run({"path": "gaps.csv", "colums": ["Open"]}, *out) == 1
    assert "unknown data keys ['colums']" in capsys.readouterr().err
    assert run({"path": "gaps.csv", "columns": ["Open", "Close"]}, *out) == 1
    assert "columns ['Close'] not in gaps.csv" in capsys.readouterr().err
    assert run({"dataset": "table"}, *out) == 1
    assert "the key 'path' is required" in capsys.readouterr().err
    assert run({"path": "gaps.csv", "columns": ["Open"]}, *out, "--model", str(tmp_path / "t.pt")) == 1
    assert "fitted on 2 features" in capsys.readouterr().err


def test_plots_name_inconsistent_input(tmp_path):
    from tsdiff.plotting import figure_path, imputation_panels, synthesis_plots

    a = ar1_windows(n=20)
    with pytest.raises(ValueError, match="1 names for 2 features"):
        synthesis_plots(a, a, tmp_path, names=["x"])
    with pytest.raises(ValueError, match="of one shape"):
        synthesis_plots(a, a[:, :, :1], tmp_path)
    frame = pd.DataFrame({"a": [1.0, np.nan], "b": [2.0, 3.0]})
    with pytest.raises(ValueError, match=r"filled lacks the columns \['b'\]"):
        imputation_panels(frame, frame[["a"]], frame, frame, tmp_path / "p.png")
    assert figure_path(tmp_path / "plot") == tmp_path / "plot.png"
    with pytest.raises(ValueError, match="write figures to one of"):
        figure_path(tmp_path / "plot.xyz")
