"""Exact denoisers for Gaussian and Gaussian-mixture data: for tests, teaching, and checking samplers.

For x0 ~ N(mu, C) and x_t = a x0 + s eps (a = sqrt(alpha_bar), s = sqrt(1 - alpha_bar)),
    E[x0 | x_t] = mu + a C (a^2 C + s^2 I)^{-1} (x_t - a mu),
so the optimal denoiser is known in closed form at every noise level; for a mixture it is the responsibility-
weighted sum of the components' (Bishop 2006, sec. 2.3). Data are (N, ...) with the event flattened to d entries.
"""

from __future__ import annotations

import math

import torch

from .conditioning import NULL_LABEL, Condition
from .parameterization import check_parameterization, from_x0_eps
from .schedules import Schedule

__all__ = ["GaussianDenoiser", "GaussianMixtureDenoiser", "gaussian_conditional"]


def _as_cov(mean: torch.Tensor, cov: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.as_tensor(mean, dtype=torch.float64)
    d = mean.numel()
    cov = torch.as_tensor(cov, dtype=torch.float64)
    if cov.shape != (d, d):
        raise ValueError(f"cov must be ({d}, {d}) for a mean with {d} entries, got {tuple(cov.shape)}")
    if not torch.allclose(cov, cov.T, atol=1e-10):
        raise ValueError("cov must be symmetric")
    if torch.linalg.eigvalsh(cov).min() < -1e-10:
        raise ValueError("cov must be positive semi-definite")
    return mean, cov


def gaussian_conditional(mean, cov, observed: torch.Tensor, obs_mask: torch.Tensor):
    """Mean (N, d) and covariance (N, d, d) of N(mean, cov) given the entries of ``observed`` where ``obs_mask``
    (both (N, d)): the Schur complement (Bishop 2006, eqs. 2.81-2.82), zero rows and columns on observed entries."""
    mean, cov = torch.as_tensor(mean, dtype=torch.float64).reshape(-1), torch.as_tensor(cov, dtype=torch.float64)
    m = obs_mask.reshape(obs_mask.shape[0], -1).to(torch.float64)  # (N, d)
    y = observed.reshape(observed.shape[0], -1).to(torch.float64)
    # C_oo padded with the identity on unobserved entries so that it can be inverted for every item at once
    c_oo = m[:, :, None] * cov * m[:, None, :] + torch.diag_embed(1 - m)  # (N, d, d)
    c_xo = cov * m[:, None, :]  # (N, d, d): columns of observed entries
    gain = torch.linalg.solve(c_oo, c_xo.transpose(1, 2)).transpose(1, 2)  # C_xo C_oo^{-1}, (N, d, d)
    cond_mean = mean + (gain @ ((y - mean) * m)[:, :, None]).squeeze(-1)
    cond_cov = cov - gain @ c_xo.transpose(1, 2)
    keep = (1 - m)[:, :, None] * (1 - m)[:, None, :]
    cond_mean = torch.where(m.bool(), y, cond_mean)
    cond_cov = cond_cov * keep
    return cond_mean, (cond_cov + cond_cov.transpose(1, 2)) / 2


def _posterior_mean(x_t, alpha_bar, mean, eigvals, eigvecs):
    """E[x0 | x_t] for x0 ~ N(mean, U diag(eigvals) U^T): x_t (N, d), alpha_bar (N,), mean (d,) or (N, d),
    eigvals (d,) or (N, d), eigvecs (d, d) or (N, d, d). In the eigenbasis each coordinate shrinks by
    a lambda / (a^2 lambda + s^2)."""
    a = alpha_bar.sqrt()[:, None]
    gain = a * eigvals / (alpha_bar[:, None] * eigvals + (1 - alpha_bar)[:, None])  # (N, d)
    u = eigvecs.expand(x_t.shape[0], -1, -1)  # (N, d, d)
    r = (u.transpose(1, 2) @ (x_t - a * mean)[:, :, None]).squeeze(-1)  # (N, d) in the eigenbasis
    return mean + (u @ (gain * r)[:, :, None]).squeeze(-1)


class GaussianDenoiser:
    """The exact denoiser of x0 ~ N(mean, cov) under ``schedule``, in any parameterization.

    Called as ``denoiser(x_t, t, condition)`` like any tsdiff model, with x_t (N, *event) and continuous steps t.
    When ``condition`` carries ``obs_mask``/``observed`` it is the exact conditional denoiser of the unobserved
    entries given the observed ones (the conditional model a "model"-conditioned sampler expects); the estimate on
    observed entries is the observation itself.
    """

    def __init__(self, mean, cov, schedule: Schedule, parameterization: str = "eps"):
        self.mean, self.cov = _as_cov(mean, cov)
        self.event_shape = tuple(torch.as_tensor(mean).shape)
        self.eig = torch.linalg.eigh(self.cov)
        self.schedule = schedule
        self.parameterization = check_parameterization(parameterization)
        self._conditional = (None, None)  # (condition, (mean, eigvals, eigvecs)): reused across sampler steps

    def x0(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        """E[x0 | x_t] (and the observations, if any), float64 (N, d)."""
        flat = x_t.reshape(x_t.shape[0], -1).to(torch.float64).cpu()
        alpha_bar = self.schedule.alpha_bar_at(t.detach().cpu()).expand(flat.shape[0])
        if condition is None or condition.obs_mask is None:
            return _posterior_mean(flat, alpha_bar, self.mean.reshape(-1), *self.eig)
        if self._conditional[0] is not condition:
            mean, cov = gaussian_conditional(self.mean, self.cov, condition.observed.cpu(), condition.obs_mask.cpu())
            self._conditional = (condition, (mean, *torch.linalg.eigh(cov)))
        return _posterior_mean(flat, alpha_bar, *self._conditional[1])

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        x0 = self.x0(x_t, t, condition)
        return _express(x0, x_t, self.schedule.alpha_bar_at(t.detach().cpu()), self.parameterization)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """n exact draws from the data distribution, (n, *event), float64."""
        z = torch.randn(n, self.mean.numel(), generator=generator, dtype=torch.float64)
        return (self.mean.reshape(-1) + z @ _sqrtm(self.cov).T).reshape(n, *self.event_shape)


class GaussianMixtureDenoiser:
    """The exact denoiser of a Gaussian mixture sum_k w_k N(means[k], covs[k]), in any parameterization.

    ``condition.labels`` >= 0 select a component (the class-conditional denoiser); NULL_LABEL or no condition
    gives the mixture's. ``class_log_prob(x_t, t, labels)`` is the exact posterior log p(label | x_t), the ideal
    classifier for classifier guidance.
    """

    def __init__(self, weights, means, covs, schedule: Schedule, parameterization: str = "eps"):
        self.weights = torch.as_tensor(weights, dtype=torch.float64)
        if (self.weights < 0).any() or not math.isclose(float(self.weights.sum()), 1.0, rel_tol=1e-9):
            raise ValueError("weights must be non-negative and sum to 1")
        self.means = torch.as_tensor(means, dtype=torch.float64)  # (K, d)
        self.covs = torch.stack([_as_cov(m, c)[1] for m, c in zip(self.means, torch.as_tensor(covs), strict=True)])
        self.eigs = [torch.linalg.eigh(c) for c in self.covs]
        self.schedule = schedule
        self.parameterization = check_parameterization(parameterization)

    def _log_evidence(self, flat, alpha_bar):
        """log w_k + log N(x_t; a mu_k, a^2 C_k + s^2 I) for every component: (N, K)."""
        a = alpha_bar.sqrt()[:, None, None]
        eye = torch.eye(flat.shape[1], dtype=torch.float64)
        cov = alpha_bar[:, None, None, None] * self.covs + (1 - alpha_bar)[:, None, None, None] * eye  # (N, K, d, d)
        mvn = torch.distributions.MultivariateNormal(a * self.means, covariance_matrix=cov)
        return self.weights.log() + mvn.log_prob(flat[:, None, :])

    def class_log_prob(self, x_t: torch.Tensor, t: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """log p(labels | x_t), (N,), differentiable in x_t."""
        flat = x_t.reshape(x_t.shape[0], -1).to(torch.float64)
        alpha_bar = self.schedule.alpha_bar_at(t.detach().cpu()).expand(flat.shape[0])
        log_post = torch.log_softmax(self._log_evidence(flat, alpha_bar), dim=1)
        return log_post.gather(1, labels.long().reshape(-1, 1)).squeeze(1).to(x_t.dtype)

    def __call__(self, x_t: torch.Tensor, t: torch.Tensor, condition: Condition | None = None) -> torch.Tensor:
        flat = x_t.reshape(x_t.shape[0], -1).to(torch.float64).cpu()
        alpha_bar = self.schedule.alpha_bar_at(t.detach().cpu()).expand(flat.shape[0])
        # (N, K, d): each component's posterior mean
        per_comp = torch.stack([_posterior_mean(flat, alpha_bar, m, *e) for m, e in zip(self.means, self.eigs)], 1)
        resp = torch.softmax(self._log_evidence(flat, alpha_bar), dim=1)  # (N, K)
        if condition is not None and condition.labels is not None:
            labels = condition.labels.cpu().long()
            chosen = torch.nn.functional.one_hot(labels.clamp(min=0), len(self.weights)).to(torch.float64)
            resp = torch.where((labels == NULL_LABEL)[:, None], resp, chosen)
        x0 = (resp[:, :, None] * per_comp).sum(1)
        return _express(x0, x_t, alpha_bar, self.parameterization)

    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None):
        """n exact draws (n, d) float64 and their component labels (n,)."""
        if labels is None:
            labels = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        z = torch.randn(n, self.means.shape[1], generator=generator, dtype=torch.float64)
        roots = torch.stack([_sqrtm(c) for c in self.covs])  # (K, d, d)
        return self.means[labels] + (roots[labels] @ z[:, :, None]).squeeze(-1), labels

    def log_prob(self, x0: torch.Tensor) -> torch.Tensor:
        """Exact log density of the data distribution at x0 (N, d)."""
        mvn = torch.distributions.MultivariateNormal(self.means, covariance_matrix=self.covs)
        return torch.logsumexp(self.weights.log() + mvn.log_prob(x0.to(torch.float64)[:, None, :]), dim=1)


def _express(x0: torch.Tensor, x_t: torch.Tensor, alpha_bar: torch.Tensor, parameterization: str) -> torch.Tensor:
    """Write an x0 estimate (N, d) as the parameterization's prediction, shaped and typed like x_t."""
    flat = x_t.reshape(x_t.shape[0], -1).to(torch.float64).cpu()
    a, s = alpha_bar.sqrt()[:, None], (1 - alpha_bar).sqrt()[:, None]
    eps = (flat - a * x0) / s
    pred = from_x0_eps(x0, eps, alpha_bar, parameterization)
    return pred.reshape(x_t.shape).to(x_t.device, x_t.dtype)


def _sqrtm(cov: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a PSD matrix."""
    vals, vecs = torch.linalg.eigh(cov)
    return vecs @ torch.diag(vals.clamp(min=0).sqrt()) @ vecs.T
