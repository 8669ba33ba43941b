"""Noise schedules as data.

A schedule is one table: ``alpha_bar[t]`` for the discrete training steps ``t = 0 .. T-1`` (step 0 is the least
noisy). Everything else derives from it: ``betas``, ``log_snr``, the variance-exploding noise level
``sigma = sqrt((1 - alpha_bar) / alpha_bar)``, and a continuous step ``t`` for any noise level (log-sigma is
interpolated linearly between steps), so samplers can evaluate a model trained on discrete steps at any sigma.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["Schedule", "get_schedule", "shift_log_snr", "karras_sigmas", "SCHEDULES"]


@dataclass(frozen=True, eq=False)
class Schedule:
    """A diffusion noise schedule: ``alpha_bar`` over the discrete training steps, float64, decreasing."""

    alpha_bar: torch.Tensor  # (T,)
    name: str = "custom"

    def __post_init__(self):
        ab = torch.as_tensor(self.alpha_bar, dtype=torch.float64).detach().cpu().reshape(-1)
        if ab.numel() < 1:
            raise ValueError("Schedule: alpha_bar must have at least one step")
        if not torch.isfinite(ab).all() or (ab <= 0).any() or (ab >= 1).any():
            raise ValueError("Schedule: alpha_bar must lie strictly inside (0, 1)")
        if ab.numel() > 1 and (ab[1:] >= ab[:-1]).any():
            raise ValueError("Schedule: alpha_bar must decrease strictly with the step")
        object.__setattr__(self, "alpha_bar", ab)

    # --- derived tables -------------------------------------------------------------------------------
    @property
    def n_steps(self) -> int:
        return self.alpha_bar.numel()

    @property
    def alpha_bar_prev(self) -> torch.Tensor:
        """alpha_bar[t-1], with alpha_bar[-1] = 1 (clean data before the first step)."""
        return torch.cat([torch.ones(1, dtype=torch.float64), self.alpha_bar[:-1]])

    @property
    def betas(self) -> torch.Tensor:
        return 1.0 - self.alpha_bar / self.alpha_bar_prev

    @property
    def log_snr(self) -> torch.Tensor:
        """lambda_t = log(alpha_bar / (1 - alpha_bar))."""
        return torch.log(self.alpha_bar) - torch.log1p(-self.alpha_bar)

    @property
    def snr(self) -> torch.Tensor:
        return self.alpha_bar / (1.0 - self.alpha_bar)

    @property
    def sigmas(self) -> torch.Tensor:
        """Variance-exploding noise level of each step: x_t / sqrt(alpha_bar) = x_0 + sigma * eps."""
        return torch.exp(-0.5 * self.log_snr)

    @property
    def sigma_min(self) -> float:
        return float(self.sigmas[0])

    @property
    def sigma_max(self) -> float:
        return float(self.sigmas[-1])

    # --- continuous steps -------------------------------------------------------------------------------
    def t_to_sigma(self, t: torch.Tensor | float) -> torch.Tensor:
        """Noise level at a continuous step t in [0, T-1] (log-sigma linear between steps)."""
        t = torch.as_tensor(t, dtype=torch.float64).clamp(0, self.n_steps - 1)
        log_sigma = torch.log(self.sigmas)
        lo = t.floor().long().clamp(max=self.n_steps - 1)
        hi = (lo + 1).clamp(max=self.n_steps - 1)
        w = t - lo
        return torch.exp((1 - w) * log_sigma[lo] + w * log_sigma[hi])

    def sigma_to_t(self, sigma: torch.Tensor | float) -> torch.Tensor:
        """Continuous step of a noise level (the inverse of ``t_to_sigma``), clamped to [0, T-1]."""
        log_sigma = torch.log(self.sigmas)
        s = torch.log(torch.as_tensor(sigma, dtype=torch.float64))
        if self.n_steps == 1:
            return torch.zeros_like(s)
        hi = torch.searchsorted(log_sigma, s.contiguous()).clamp(1, self.n_steps - 1)
        lo = hi - 1
        w = ((s - log_sigma[lo]) / (log_sigma[hi] - log_sigma[lo])).clamp(0, 1)
        return lo.to(torch.float64) + w

    def alpha_bar_at(self, t: torch.Tensor | float) -> torch.Tensor:
        """alpha_bar at a continuous step (consistent with ``t_to_sigma``)."""
        return 1.0 / (1.0 + self.t_to_sigma(t) ** 2)

    # --- subsets and sampling grids ---------------------------------------------------------------------
    def subset(self, steps: Sequence[int] | torch.Tensor) -> Schedule:
        """The schedule restricted to some steps (respacing): betas are recomputed so that the kept alpha_bar
        values are exact (Nichol & Dhariwal 2021, sec. 4)."""
        steps = torch.as_tensor(steps, dtype=torch.long).unique(sorted=True)
        if steps.numel() == 0 or steps.min() < 0 or steps.max() >= self.n_steps:
            raise ValueError(f"Schedule.subset: steps must lie in [0, {self.n_steps - 1}], got {steps.tolist()}")
        return Schedule(self.alpha_bar[steps], name=f"{self.name}[subset]")

    def timesteps(self, n: int, spacing: str = "trailing") -> torch.Tensor:
        """``n`` distinct training steps for sampling, descending (noisiest first).

        "trailing" always includes the last step T-1 (Lin et al. 2024, "Common diffusion noise schedules and
        sample steps are flawed"); "linspace" spreads steps from 0 to T-1; "leading" is DDIM's original
        ``arange(0, T, T // n)``.
        """
        T = self.n_steps
        if not 1 <= n <= T:
            raise ValueError(f"timesteps: n must be in [1, {T}] for this schedule, got {n}")
        if spacing == "trailing":
            # T - i T / n for i < n: a float arange(T, 0, -T / n) sometimes yields an (n + 1)-th value near 0
            steps = torch.round(T - torch.arange(n, dtype=torch.float64) * (T / n)).long() - 1
        elif spacing == "linspace":
            steps = torch.round(torch.linspace(T - 1, 0, n, dtype=torch.float64)).long()
        elif spacing == "leading":
            steps = (torch.arange(0, n) * (T // n)).flip(0)
        else:
            raise ValueError(
                f"timesteps: spacing must be 'trailing', 'linspace', 'leading' or 'karras', got {spacing!r}"
            )
        return steps.clamp(0, T - 1).unique(sorted=True).flip(0)

    def sampling_sigmas(self, n: int, spacing: str = "trailing", rho: float = 7.0) -> torch.Tensor:
        """Descending noise levels for a sampler with ``n`` steps, with a final 0 appended: (n + 1,).

        "karras" spaces sigma between the schedule's extremes with exponent rho (Karras et al. 2022, eq. 5) and
        may evaluate the model between training steps; the other spacings use training steps only.
        """
        if spacing == "karras":
            sig = karras_sigmas(n, self.sigma_min, self.sigma_max, rho).flip(0)
        else:
            sig = self.sigmas[self.timesteps(n, spacing)]
        return torch.cat([sig, torch.zeros(1, dtype=torch.float64)])

    # --- serialisation --------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"name": self.name, "alpha_bar": self.alpha_bar.clone()}

    @classmethod
    def from_dict(cls, d: dict) -> Schedule:
        try:
            return cls(torch.as_tensor(d["alpha_bar"]), name=str(d.get("name", "custom")))
        except (KeyError, TypeError) as err:
            raise ValueError(f"Schedule.from_dict: expected a dict with 'alpha_bar', got {d!r:.200}") from err


def karras_sigmas(n: int, sigma_min: float, sigma_max: float, rho: float = 7.0) -> torch.Tensor:
    """n noise levels from sigma_min to sigma_max, ascending (Karras et al. 2022, eq. 5)."""
    if n < 1 or not 0 < sigma_min < sigma_max:
        raise ValueError(f"karras_sigmas: need n >= 1 and 0 < sigma_min < sigma_max, got {n}, {sigma_min}, {sigma_max}")
    if n == 1:
        return torch.tensor([sigma_max], dtype=torch.float64)
    ramp = torch.linspace(0, 1, n, dtype=torch.float64)
    lo, hi = sigma_min ** (1 / rho), sigma_max ** (1 / rho)
    return (lo + ramp * (hi - lo)) ** rho


def _from_betas(betas: torch.Tensor, name: str) -> Schedule:
    return Schedule(torch.cumprod(1.0 - betas, 0), name=name)


def _linear(n_steps, beta_start=1e-4, beta_end=0.02):
    """Ho et al. 2020: betas linear from 1e-4 to 0.02 (at T = 1000)."""
    return _from_betas(torch.linspace(beta_start, beta_end, n_steps, dtype=torch.float64), "linear")


def _quadratic(n_steps, beta_start=1e-4, beta_end=0.5):
    """CSDI's "quad": betas = linspace(sqrt(beta_start), sqrt(beta_end), T)^2 (Tashiro et al. 2021)."""
    root = torch.linspace(beta_start**0.5, beta_end**0.5, n_steps, dtype=torch.float64)
    return _from_betas(root**2, "quadratic")


def _cosine(n_steps, s=0.008, max_beta=0.999):
    """Nichol & Dhariwal 2021, eq. 17: alpha_bar(t) = f(t) / f(0), f(t) = cos((t/T + s) / (1 + s) * pi/2)^2."""
    t = torch.arange(n_steps + 1, dtype=torch.float64) / n_steps
    f = torch.cos((t + s) / (1 + s) * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=max_beta)
    return _from_betas(betas, "cosine")


def _sigmoid(n_steps, start=-3.0, end=3.0, tau=1.0, max_beta=0.999):
    """Chen 2023 ("On the importance of noise scheduling"), Alg. 1: alpha_bar from a scaled sigmoid."""
    t = torch.arange(n_steps + 1, dtype=torch.float64) / n_steps
    v_start, v_end = torch.sigmoid(torch.tensor(start / tau)), torch.sigmoid(torch.tensor(end / tau))
    f = (v_end - torch.sigmoid((t * (end - start) + start) / tau)) / (v_end - v_start)
    betas = (1 - f[1:] / f[:-1]).clamp(min=1e-8, max=max_beta)
    return _from_betas(betas, "sigmoid")


def _karras(n_steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    """EDM noise levels (Karras et al. 2022) as a schedule: alpha_bar = 1 / (1 + sigma^2)."""
    sigma = karras_sigmas(n_steps, sigma_min, sigma_max, rho)
    return Schedule(1.0 / (1.0 + sigma**2), name="karras")


SCHEDULES = {"linear": _linear, "quadratic": _quadratic, "cosine": _cosine, "sigmoid": _sigmoid, "karras": _karras}


def shift_log_snr(schedule: Schedule, shift: float) -> Schedule:
    """``schedule`` with its log SNR moved by ``shift`` at every step: alpha_bar' = sigmoid(log_snr + shift).
    A shift of 2 log(b) gives the signal-to-noise ratios the model would meet with its data scaled by b ("input
    scaling", Chen 2023; the shifted schedules of Hoogeboom et al. 2023): negative shifts spend more of the
    training on heavy noise, positive ones on light noise."""
    if not math.isfinite(shift):
        raise ValueError(f"shift_log_snr: shift must be finite, got {shift!r}")
    if shift == 0:
        return schedule
    return Schedule(torch.sigmoid(schedule.log_snr + shift), name=f"{schedule.name}, log-SNR {shift:+.3g}")


def get_schedule(name: str, n_steps: int = 1000, log_snr_shift: float = 0.0, **options) -> Schedule:
    """A named schedule with ``n_steps`` training steps; ``options`` are the schedule's own parameters
    (``beta_start``/``beta_end`` for linear and quadratic, ``s`` for cosine, ``start``/``end``/``tau`` for sigmoid,
    ``sigma_min``/``sigma_max``/``rho`` for karras; "edm" is an alias of "karras"); ``log_snr_shift`` moves its
    log SNR (``shift_log_snr``)."""
    key = "karras" if name == "edm" else name
    if key not in SCHEDULES:
        raise ValueError(f"get_schedule: unknown schedule {name!r}; expected one of {sorted(SCHEDULES)} or 'edm'")
    if isinstance(n_steps, bool) or not isinstance(n_steps, numbers.Integral) or n_steps < 1:
        raise ValueError(f"get_schedule: n_steps must be a positive int, got {n_steps!r}")
    return shift_log_snr(SCHEDULES[key](int(n_steps), **options), float(log_snr_shift))
