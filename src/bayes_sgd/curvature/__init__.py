"""Curvature and the gradient noise scale of the trained MLP at its final weights (docs/paper.md, "Beyond the
paper: the evidence of a trained network").

Everything here is float64 and works on the summed cross-entropy of the N training examples,

    H(w) = -sum_i ln p_i[y_i],     p_i = softmax(z_i),

of the network of :mod:`bayes_sgd.mlp`: ``a1_i = [x_i, 1]``, ``s1_i = a1_i [W1; b1]``,
``h_i = relu(s1_i)`` with mask ``m_i = [s1_i > 0]``, ``a2_i = [h_i, 1]``, ``z_i = a2_i [W2; b2]``.

**Generalised Gauss-Newton (GGN).** ``GGN = sum_i J_i^T Lambda_i J_i`` with ``J_i = dz_i/dw`` and
``Lambda_i = diag(p_i) - p_i p_i^T`` the Hessian of the cross-entropy in the logits. It is
positive semi-definite and equals the Hessian of H wherever the logits are linear in w (the
softmax layer; a linear softmax model). This module uses a square root of ``Lambda_i``,

    R_i = diag(sqrt(p_i)) - p_i sqrt(p_i)^T,     R_i R_i^T = Lambda_i       (since sum p_i = 1),

so every GGN block is a Gram matrix (:func:`softmax_curvature_root`).

**Dense layers.** A layer with input ``a`` (bias appended) and pre-activation ``s = a W`` has
``dz/dvec(W) = a^T kron J_s`` with ``J_s = dz/ds`` (``I`` for the softmax layer,
``W2^T diag(m)`` for the hidden layer), so its GGN block is ``sum_i (a_i a_i^T) kron (J_i^T Lambda_i J_i)``.
**KFAC** (Martens & Grosse 2015; Ritter et al. 2018 for the Laplace approximation) replaces it
by ``N * (A kron G)`` with ``A = mean_i a_i a_i^T`` and ``G = mean_i J_i^T Lambda_i J_i``, and drops
the blocks between layers; its eigenvalues are ``N a_k g_l`` over the eigenvalues ``a_k`` of A
and ``g_l`` of G (:func:`kfac_factors`, :meth:`KroneckerFactor.ggn_eigenvalues`).

**Exact GGN of the softmax layer** (:func:`last_layer_ggn`, and for its eigenvalues the same
on the directions that change the probabilities, :func:`reduced_last_layer_ggn`): ``sum_i Lambda_i kron a2_i a2_i^T``
(parameter order: class-major, ``index = c * (H + 1) + j``), built as the block-diagonal
``blockdiag_c(A2^T diag(p_c) A2)`` minus the Gram matrix ``Q^T Q`` of ``Q = [p_0 * A2, ..., p_{C-1} * A2]``
(from ``Lambda_i = diag(p_i) - p_i p_i^T``), i.e. ``(C (H+1))^2 N`` multiply-adds.

**Exact GGN of the whole network** (:func:`gram_spectrum`): its nonzero spectrum is that of the
``N (C - 1)`` square Gram matrix of the rows ``S_i^T J_i`` (``S_i S_i^T = Lambda_i``), so
``ln det(GGN + lambda I)`` is exact where N allows (9,000 x 9,000 at N = 1,000); the same
decomposition gives, by Woodbury, the **non-MAP term** ``1/2 g^T (GGN + lambda I)^-1 g`` of the
Laplace evidence at weights that are not the minimum (``g = grad H + lambda w``), which KFAC
gives too in its own eigenbasis (:meth:`KroneckerFactor.inverse_quadratic_form`).

**Hessian-vector products** (:class:`HessianVectorProduct`): the exact Hessian of the **mean**
cross-entropy ``L = H / N`` times a vector, by Pearlmutter's R-operator (one forward and one
backward pass; the ReLU's second derivative is zero almost everywhere). The **sharpness** is its
largest eigenvalue, by Lanczos (:func:`sharpness`, ``scipy.sparse.linalg.eigsh``).

**Gradient noise scale** (McCandlish et al. 2018): ``B_simple = tr(Sigma) / |G|^2`` with ``G`` the
mean gradient and ``Sigma`` the covariance of the per-example gradients ``g_i``. For a dense
layer ``g_i = a_i kron delta_i`` (``delta_i`` the gradient of example i's cross-entropy in the
layer's pre-activation), so ``|g_i|^2 = |a_i|^2 |delta_i|^2`` exactly, and no per-example
gradient is stored (:func:`gradient_noise_scale`).
"""

from bayes_sgd.curvature.b_simple import GradientNoise, gradient_noise_scale  # noqa: F401
from bayes_sgd.curvature.forward import (  # noqa: F401
    ForwardCache,
    as_float64,
    forward_cache,
    softmax_curvature_root,
    summed_cross_entropy,
)
from bayes_sgd.curvature.gram import GramSpectrum, gram_spectrum, logit_jvp, summed_gradient  # noqa: F401
from bayes_sgd.curvature.slq import (  # noqa: F401
    GaussNewtonProduct, GramProduct, GramSideSpectrum, SpectralQuadrature, gram_side_spectrum, pruned_rows, slq_spectrum,
)
from bayes_sgd.curvature.kfac import KroneckerFactor, dense_layer_factor, kfac_factors  # noqa: F401
from bayes_sgd.curvature.sharpness import HessianVectorProduct, Sharpness, sharpness  # noqa: F401
from bayes_sgd.curvature.softmax_layer import (  # noqa: F401
    identifiable_basis,
    last_layer_ggn,
    last_layer_ggn_eigenvalues,
    reduced_last_layer_ggn,
)
from bayes_sgd.curvature.trace import ggn_trace  # noqa: F401
