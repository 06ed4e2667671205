"""Classic models of function learning: fit on training (x, y) pairs, predict at test inputs.

* :class:`GPRegression`: Gaussian-process regression with an RBF, linear or RBF + linear kernel, the
  hyperparameters (length-scale, signal and noise variances, linear slope variance and bias) chosen by
  maximising the log marginal likelihood (L-BFGS-B from several starts).  Lucas et al. (2015) and Griffiths
  et al. (2009) cast human function learning as GP regression with such kernels.
* :class:`PolynomialRegression`: least-squares polynomials of degree 0..``max_degree``, the degree chosen by
  BIC = n ln(SSE / n) + k ln n (k = degree + 1 coefficients).
* :class:`ALM` and :class:`EXAM` (DeLosh, Busemeyer & McDaniel 1997): the associative-learning model is a
  two-layer network from Gaussian input nodes to Gaussian output nodes trained by the delta rule; its
  response is the activation-weighted mean of the output-node values, so it interpolates but cannot
  extrapolate beyond the outputs it was trained on.  EXAM (extrapolation-association model) uses ALM's
  memory for the nearest trained input and extrapolates linearly from the slope between that input's
  trained neighbours.

All models share ``fit(x, y) -> self`` and ``predict(x) -> np.ndarray`` on 1-D arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import minimize

GP_KERNELS = ("rbf", "linear", "rbf+linear")


def _as_1d(name: str, v) -> np.ndarray:
    a = np.asarray(v, dtype=np.float64).reshape(-1)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} contains non-finite values")
    return a


def _check_xy(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = _as_1d("x", x), _as_1d("y", y)
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    if len(x) < 2:
        raise ValueError(f"need at least 2 training points, got {len(x)}")
    return x, y


class _NotFitted:
    def _check_fitted(self) -> None:
        if not getattr(self, "fitted_", False):
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(x, y) first")


# -- Gaussian-process regression ---------------------------------------------------------------------------
def _kernel(kind: str, p: dict[str, float], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return sum(_kernel_parts(kind, p, a, b).values())


def _kernel_parts(kind: str, p: dict[str, float], a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    """Kernel terms keyed by hyperparameter; each term is linear in its own variance parameter."""
    parts = {}
    if "rbf" in kind:
        parts["signal_var"] = p["signal_var"] * np.exp(-0.5 * ((a[:, None] - b[None, :]) / p["lengthscale"]) ** 2)
    if "linear" in kind:
        parts["bias_var"] = np.full((len(a), len(b)), p["bias_var"])
        parts["slope_var"] = p["slope_var"] * a[:, None] * b[None, :]
    return parts


_GP_PARAMS = {"rbf": ("lengthscale", "signal_var"), "linear": ("bias_var", "slope_var"),
              "rbf+linear": ("lengthscale", "signal_var", "bias_var", "slope_var")}


class GPRegression(_NotFitted):
    """Zero-mean GP regression on centred, unit-variance targets; hyperparameters by marginal likelihood.

    Inputs are used as given (so the linear kernel's origin is the data's x = 0).  After :meth:`fit`,
    ``params_`` holds the hyperparameters in the units of x and of the standardised y, ``log_marginal_``
    the maximised log marginal likelihood of the standardised targets.
    """

    def __init__(self, kernel: str = "rbf", n_restarts: int = 4, seed: int = 0, min_noise: float = 1e-6):
        if kernel not in GP_KERNELS:
            raise ValueError(f"unknown kernel {kernel!r}; choose one of {GP_KERNELS}")
        self.kernel, self.n_restarts, self.seed, self.min_noise = kernel, n_restarts, seed, min_noise
        self.name = f"gp-{kernel}"

    def _unpack(self, theta: np.ndarray) -> dict[str, float]:
        names = (*_GP_PARAMS[self.kernel], "noise_var")
        return dict(zip(names, np.exp(theta), strict=True))

    def _neg_log_marginal(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """-log p(y | theta) and its gradient with respect to the log hyperparameters."""
        p = self._unpack(theta)
        parts = _kernel_parts(self.kernel, p, x, x)
        K = sum(parts.values()) + (p["noise_var"] + self.min_noise) * np.eye(len(x))
        try:
            c, low = cho_factor(K, lower=True)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(theta)
        alpha = cho_solve((c, low), y)
        value = float(0.5 * y @ alpha + np.log(np.diag(c)).sum() + 0.5 * len(x) * math.log(2 * math.pi))
        inner = np.outer(alpha, alpha) - cho_solve((c, low), np.eye(len(x)))  # dNLL/dK = -inner / 2
        # dK/dlog(theta) for each hyperparameter: variances scale their own term; the length-scale
        # multiplies the RBF term by (x - x')^2 / l^2
        derivs = {name: term for name, term in parts.items()}
        if "rbf" in self.kernel:
            derivs["lengthscale"] = parts["signal_var"] * (x[:, None] - x[None, :]) ** 2 / p["lengthscale"] ** 2
        derivs["noise_var"] = p["noise_var"] * np.eye(len(x))
        names = (*_GP_PARAMS[self.kernel], "noise_var")
        grad = np.array([-0.5 * float((inner * derivs[n]).sum()) for n in names])
        return value, grad

    def fit(self, x, y) -> GPRegression:
        x, y = _check_xy(x, y)
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std()) or 1.0
        ys = (y - self.y_mean_) / self.y_std_
        span = float(np.ptp(x)) or 1.0
        scale2 = float(np.mean(x**2)) or 1.0
        rng = np.random.default_rng(self.seed)
        bounds = {"lengthscale": (0.01 * span, 10 * span), "signal_var": (1e-3, 1e2),
                  "bias_var": (1e-4, 1e2), "slope_var": (1e-4 / scale2, 1e2 / scale2), "noise_var": (1e-6, 10.0)}
        names = (*_GP_PARAMS[self.kernel], "noise_var")
        log_bounds = [(math.log(bounds[n][0]), math.log(bounds[n][1])) for n in names]
        init = {"lengthscale": 0.3 * span, "signal_var": 1.0, "bias_var": 0.1, "slope_var": 1.0 / scale2,
                "noise_var": 0.1}
        best = None
        for r in range(self.n_restarts):
            if r == 0:
                theta0 = np.log([init[n] for n in names])
            else:
                theta0 = np.array([rng.uniform(lo, hi) for lo, hi in log_bounds])
            res = minimize(self._neg_log_marginal, theta0, args=(x, ys), method="L-BFGS-B", jac=True,
                           bounds=log_bounds)
            if best is None or res.fun < best.fun:
                best = res
        self.params_ = self._unpack(best.x)
        self.log_marginal_ = -float(best.fun)
        p = self.params_
        K = _kernel(self.kernel, p, x, x) + (p["noise_var"] + self.min_noise) * np.eye(len(x))
        self._chol = cho_factor(K, lower=True)
        self._alpha = cho_solve(self._chol, ys)
        self.x_ = x
        self.fitted_ = True
        return self

    def predict(self, x, return_std: bool = False):
        """Posterior mean (and, with ``return_std``, the s.d. of the latent function) at ``x``."""
        self._check_fitted()
        x = _as_1d("x", x)
        ks = _kernel(self.kernel, self.params_, x, self.x_)
        mean = ks @ self._alpha * self.y_std_ + self.y_mean_
        if not return_std:
            return mean
        v = cho_solve(self._chol, ks.T)
        kss = np.diag(_kernel(self.kernel, self.params_, x, x))
        return mean, np.sqrt(np.clip(kss - (ks * v.T).sum(1), 0, None)) * self.y_std_


# -- polynomial regression ---------------------------------------------------------------------------------
class PolynomialRegression(_NotFitted):
    """Least-squares polynomial whose degree (0..``max_degree``) minimises BIC = n ln(SSE/n) + k ln n."""

    def __init__(self, max_degree: int = 5):
        if max_degree < 0:
            raise ValueError(f"max_degree must be >= 0, got {max_degree}")
        self.max_degree = max_degree
        self.name = "poly-bic"

    def fit(self, x, y) -> PolynomialRegression:
        x, y = _check_xy(x, y)
        n = len(x)
        # centre and scale x so that high powers stay well conditioned
        self.x_loc_, self.x_scale_ = float(x.mean()), float(np.ptp(x) / 2) or 1.0
        z = (x - self.x_loc_) / self.x_scale_
        self.bic_ = {}
        fits = {}
        # at least two residual degrees of freedom: an interpolating polynomial has SSE = 0 and BIC = -inf
        for d in range(max(0, min(self.max_degree, n - 3)) + 1):
            coef = np.polynomial.polynomial.polyfit(z, y, d)
            sse = float(((np.polynomial.polynomial.polyval(z, coef) - y) ** 2).sum())
            self.bic_[d] = n * math.log(max(sse, 1e-300) / n) + (d + 1) * math.log(n)
            fits[d] = coef
        self.degree_ = min(self.bic_, key=self.bic_.get)
        self.coef_ = fits[self.degree_]
        self.fitted_ = True
        return self

    def predict(self, x) -> np.ndarray:
        self._check_fitted()
        z = (_as_1d("x", x) - self.x_loc_) / self.x_scale_
        return np.polynomial.polynomial.polyval(z, self.coef_)


# -- ALM and EXAM (DeLosh, Busemeyer & McDaniel 1997) --------------------------------------------------------
@dataclass(frozen=True)
class ALMConfig:
    """ALM's parameters.

    ``input_range`` / ``output_range``: the stimulus and response scales the node grids cover (None: the
    training data's range, the input range widened by one span on each side so that untrained inputs
    exist).  ``gamma``: generalisation gradient of the Gaussian activations, in units of 1/(range)^2 (node
    activation exp(-gamma ((X - X_i) / range)^2)); ``alpha``: delta-rule learning rate; ``epochs``:
    passes through the training pairs (in the given order, as trials).
    """

    n_input: int = 101
    n_output: int = 101
    input_range: tuple[float, float] | None = None
    output_range: tuple[float, float] | None = None
    gamma: float = 1000.0
    alpha: float = 0.1
    epochs: int = 20


class ALM(_NotFitted):
    """Associative-learning model (DeLosh et al. 1997)."""

    name = "alm"

    def __init__(self, config: ALMConfig | None = None, **overrides):
        base = config or ALMConfig()
        self.config = ALMConfig(**{**base.__dict__, **overrides})

    def _input_activation(self, x: np.ndarray) -> np.ndarray:
        return np.exp(-self._gamma_in * (x[:, None] - self.input_nodes_[None, :]) ** 2)

    def fit(self, x, y) -> ALM:
        x, y = _check_xy(x, y)
        c = self.config
        if c.input_range is None:
            span = float(np.ptp(x)) or 1.0
            lo_in, hi_in = float(x.min()) - span, float(x.max()) + span
        else:
            lo_in, hi_in = c.input_range
        lo_out, hi_out = c.output_range if c.output_range is not None else (float(y.min()), float(y.max()))
        if hi_out <= lo_out:
            hi_out = lo_out + 1.0
        self.input_nodes_ = np.linspace(lo_in, hi_in, c.n_input)
        self.output_nodes_ = np.linspace(lo_out, hi_out, c.n_output)
        self._gamma_in = c.gamma / (hi_in - lo_in) ** 2
        self._gamma_out = c.gamma / (hi_out - lo_out) ** 2
        self.weights_ = np.zeros((c.n_output, c.n_input))
        a_all = self._input_activation(x)
        f_all = np.exp(-self._gamma_out * (y[:, None] - self.output_nodes_[None, :]) ** 2)
        for _ in range(c.epochs):
            for a, f in zip(a_all, f_all, strict=True):
                o = self.weights_ @ a
                self.weights_ += c.alpha * np.outer(f - o, a)
        self.x_train_ = np.unique(x)
        self.fitted_ = True
        # ALM's own response on the input grid; untrained regions (no positive output activation) answer
        # like the nearest trained region, i.e. ALM never goes beyond the outputs it learned.
        self._grid_response, self._grid_valid = self._respond(self.input_nodes_)
        if not self._grid_valid.any():
            raise RuntimeError("ALM learned nothing: no positive output activation anywhere (alpha too small?)")
        return self

    def _respond(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        o = np.clip(self._input_activation(x) @ self.weights_.T, 0, None)  # (n, n_output)
        total = o.sum(1)
        valid = total > 1e-6 * max(float(total.max()), 1e-300)
        resp = (o * self.output_nodes_[None, :]).sum(1) / np.where(valid, total, 1.0)
        return resp, valid

    def predict(self, x) -> np.ndarray:
        self._check_fitted()
        x = _as_1d("x", x)
        resp, valid = self._respond(x)
        if (~valid).any():
            good = self.input_nodes_[self._grid_valid]
            nearest = np.abs(x[~valid, None] - good[None, :]).argmin(1)
            resp[~valid] = self._grid_response[self._grid_valid][nearest]
        return resp


class EXAM(ALM):
    """Extrapolation-association model: ALM's learned output at the nearest trained input plus a linear
    extrapolation with the slope between that input's trained neighbours (DeLosh et al. 1997)."""

    name = "exam"

    def predict(self, x) -> np.ndarray:
        self._check_fitted()
        x = _as_1d("x", x)
        xs = self.x_train_
        m = ALM.predict(self, xs)
        if len(xs) == 1:
            return np.full_like(x, m[0])
        i = np.abs(x[:, None] - xs[None, :]).argmin(1)
        lo, hi = np.clip(i - 1, 0, len(xs) - 1), np.clip(i + 1, 0, len(xs) - 1)
        slope = (m[hi] - m[lo]) / (xs[hi] - xs[lo])
        return m[i] + slope * (x - xs[i])


CLASSIC_FUNCTION_MODELS = ("gp-rbf", "gp-linear", "gp-rbf+linear", "poly-bic", "alm", "exam")


def make_function_model(name: str, **kwargs):
    """A classic function-learning model by name (see :data:`CLASSIC_FUNCTION_MODELS`)."""
    key = name.strip().lower()
    if key.startswith("gp-"):
        return GPRegression(key[3:], **kwargs)
    if key == "poly-bic":
        return PolynomialRegression(**kwargs)
    if key == "alm":
        return ALM(**kwargs)
    if key == "exam":
        return EXAM(**kwargs)
    raise ValueError(f"unknown function-learning model {name!r}; choose one of {CLASSIC_FUNCTION_MODELS}")
