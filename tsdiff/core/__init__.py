"""The shared diffusion core: schedules, forward process, parameterizations, losses, samplers, guidance and
masked conditioning. No model code lives here."""

from .conditioning import NULL_LABEL, Condition
from .denoiser import as_x0_fn
from .forward import q_posterior, q_sample, snr
from .gaussian import GaussianDenoiser, GaussianMixtureDenoiser, gaussian_conditional
from .guidance import ClassifierFreeGuidance, ClassifierGuidance
from .losses import denoising_loss, loss_weight, masked_mse
from .parameterization import PARAMETERIZATIONS, convert, from_x0_eps, to_x0_eps
from .sample import ddim_invert, default_steps, sample
from .samplers import NFE_PER_STEP, SAMPLERS
from .schedules import Schedule, get_schedule, karras_sigmas, shift_log_snr

__all__ = [
    "NULL_LABEL",
    "Condition",
    "as_x0_fn",
    "q_posterior",
    "q_sample",
    "snr",
    "GaussianDenoiser",
    "GaussianMixtureDenoiser",
    "gaussian_conditional",
    "ClassifierFreeGuidance",
    "ClassifierGuidance",
    "denoising_loss",
    "loss_weight",
    "masked_mse",
    "PARAMETERIZATIONS",
    "convert",
    "from_x0_eps",
    "to_x0_eps",
    "ddim_invert",
    "default_steps",
    "sample",
    "NFE_PER_STEP",
    "SAMPLERS",
    "Schedule",
    "get_schedule",
    "karras_sigmas",
    "shift_log_snr",
]
