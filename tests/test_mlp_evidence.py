"""The MLP evidence, curvature and gradient noise scale against independent brute-force
computations on tiny networks (finite differences, explicit Jacobians, stored per-example
gradients, the logistic-regression evidence of Section 3)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from bayes_sgd import logistic
from bayes_sgd import curvature as curv
from bayes_sgd import mlp_evidence as me
from bayes_sgd import claims
from bayes_sgd.claims.evidence import EvidenceThresholds, evidence_peaks
from bayes_sgd.claims.registry import DOES_NOT_HOLD, HOLDS, NOT_MEASURED, UNDECIDED
from bayes_sgd.laplace import laplace_log_evidence
from bayes_sgd.mlp import Architecture, initialise, log_softmax, loss_and_gradient

ARCH = Architecture(n_inputs=20, n_hidden=8, n_classes=3)
N = 50


@pytest.fixture(scope="module")
def tiny():
    """A 20-8-3 network with non-zero biases on 50 examples (float64)."""
    rng = np.random.default_rng(0)
    w = initialise(ARCH, rng, "he_normal", dtype=np.float64)
    w[ARCH.n_inputs * ARCH.n_hidden : ARCH.n_inputs * ARCH.n_hidden + ARCH.n_hidden] = rng.normal(0, 0.3, ARCH.n_hidden)
    w[-ARCH.n_classes :] = rng.normal(0, 0.3, ARCH.n_classes)
    X = rng.uniform(0, 1, size=(N, ARCH.n_inputs))
    y = rng.integers(0, ARCH.n_classes, size=N)
    return w, X, y


def logits(arch, w, X):
    p = arch.unpack(w)
    return np.maximum(X @ p.W1 + p.b1, 0) @ p.W2 + p.b2


def logit_jacobians(arch, w, X, h=1e-6):
    """``dz_i/dw`` ``[n, C, p]`` by central differences of the forward pass."""
    J = np.empty((X.shape[0], arch.n_classes, arch.n_params))
    for k in range(arch.n_params):
        e = np.zeros_like(w)
        e[k] = h
        J[:, :, k] = (logits(arch, w + e, X) - logits(arch, w - e, X)) / (2 * h)
    return J


def softmax_hessians(arch, w, X):
    p = np.exp(log_softmax(logits(arch, w, X)))
    return np.einsum("nc,cd->ncd", p, np.eye(arch.n_classes)) - p[:, :, None] * p[:, None, :]


def full_ggn(arch, w, X):
    J = logit_jacobians(arch, w, X)
    return np.einsum("nci,ncd,ndj->ij", J, softmax_hessians(arch, w, X), J)


def layer_slices(arch):
    d, H, C = arch.n_inputs, arch.n_hidden, arch.n_classes
    o1, o2, o3 = d * H, d * H + H, d * H + H + H * C
    return [np.r_[0:o2], np.r_[o2 : o3 + C]]


def summed_hessian_fd(arch, w, X, y, h=1e-5):
    """Hessian of the summed cross-entropy by central differences of the exact gradient."""
    Hm = np.empty((arch.n_params, arch.n_params))
    for k in range(arch.n_params):
        e = np.zeros_like(w)
        e[k] = h
        Hm[:, k] = (loss_and_gradient(arch, w + e, X, y)[1] - loss_and_gradient(arch, w - e, X, y)[1]) / (2 * h)
    return 0.5 * (Hm + Hm.T) * X.shape[0]


# --- KFAC -------------------------------------------------------------------------------------


def kfac_log_det(factors, lam):
    return sum(f.log_det(lam) for f in factors)


def test_kfac_factors_match_their_definition(tiny):
    """A = mean a a^T and G = mean J^T Lambda J, with J from finite differences of the logits."""
    w, X, y = tiny
    hidden, softmax = curv.kfac_factors(ARCH, w, X, chunk_size=17)
    a1 = np.hstack([X, np.ones((N, 1))])
    np.testing.assert_allclose(hidden.A, a1.T @ a1 / N, rtol=1e-12)
    # J of the logits in the hidden pre-activation s1, by differences through relu(s1) W2 + b2.
    p = ARCH.unpack(w)
    s1 = X @ p.W1 + p.b1
    Lam = softmax_hessians(ARCH, w, X)
    J = np.stack([(p.W2 * (s1[i] > 0)[:, None]).T for i in range(N)])  # [n, C, H]
    np.testing.assert_allclose(hidden.G, np.einsum("nck,ncd,ndl->kl", J, Lam, J) / N, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(softmax.G, Lam.mean(axis=0), rtol=1e-10, atol=1e-14)
    assert hidden.n_params + softmax.n_params == ARCH.n_params


def test_kfac_log_det_is_exact_for_one_example(tiny):
    """One example: each layer's GGN block is exactly a kron (J^T Lambda J)."""
    w, X, y = tiny
    G = full_ggn(ARCH, w, X[:1])
    factors = curv.kfac_factors(ARCH, w, X[:1])
    for lam in (1e-3, 0.1, 10.0):
        blockdiag = sum(np.linalg.slogdet(G[np.ix_(s, s)] + lam * np.eye(len(s)))[1] for s in layer_slices(ARCH))
        assert kfac_log_det(factors, lam) == pytest.approx(blockdiag, rel=1e-9)


def test_kfac_log_det_beats_the_wrong_factorisations(tiny):
    """KFAC against the exact full GGN of a 20-8-3 network on 50 examples, without a tolerance
    chosen after measuring (the earlier version allowed 35% where it had measured 7-29%): KFAC is
    an approximation, so the test asks what a bug would break. Each layer's Kronecker
    factorisation must be nearer the exact block's Occam factor than the same factors without
    the factor N, with G replaced by its trace times the identity, or with A replaced by its
    trace times the identity. The whole-network KFAC Occam factor must be within a factor 2 of
    the exact one either way: a loose bound stated from theory before this fixture was run (the
    exact block-diagonal GGN's Occam factor lies between the exact one, by Fischer's inequality,
    and twice it, by interlacing; KFAC's own factorisation error comes on top). KFAC's error on
    the real runs is measured, not tested: estimator_check.parquet."""
    w, X, y = tiny
    G = full_ggn(ARCH, w, X)
    p = ARCH.n_params
    factors = curv.kfac_factors(ARCH, w, X)

    def occam(eig, lam):
        return 0.5 * np.log1p(np.clip(eig, 0, None) / lam).sum()

    for lam in (0.1, 1.0, 10.0):
        for f, s in zip(factors, layer_slices(ARCH)):
            block = occam(np.linalg.eigvalsh(G[np.ix_(s, s)]), lam)
            kfac = occam(f.ggn_eigenvalues(), lam)
            wrong = [
                occam(np.outer(f.a_eigenvalues, f.g_eigenvalues).ravel(), lam),  # N dropped
                occam(N * np.outer(f.a_eigenvalues, np.full(len(f.g_eigenvalues), f.g_eigenvalues.mean())).ravel(), lam),
                occam(N * np.outer(np.full(len(f.a_eigenvalues), f.a_eigenvalues.mean()), f.g_eigenvalues).ravel(), lam),
            ]
            assert all(abs(kfac - block) < abs(x - block) for x in wrong), (lam, f.name, kfac, block, wrong)
        exact = occam(np.linalg.eigvalsh(G), lam)
        total = sum(occam(f.ggn_eigenvalues(), lam) for f in factors)
        assert 0.5 * exact < total < 2 * exact


# --- the softmax layer and the linear softmax model --------------------------------------------


def linear_softmax(Wb, X):
    """Probabilities of a linear softmax model with weights ``[W; b]`` ``[d + 1, C]``."""
    return np.exp(log_softmax(np.hstack([X, np.ones((X.shape[0], 1))]) @ Wb))


def linear_softmax_hessian_fd(Wb, X, y, h=1e-5):
    """Hessian of the summed cross-entropy in Fortran-vec([W; b]) by differences of its gradient."""
    a = np.hstack([X, np.ones((X.shape[0], 1))])
    onehot = np.eye(Wb.shape[1])[y]

    def grad(flat):
        P = linear_softmax(flat.reshape(Wb.shape, order="F"), X)
        return (a.T @ (P - onehot)).ravel(order="F")

    flat = Wb.ravel(order="F")
    Hm = np.empty((flat.size, flat.size))
    for k in range(flat.size):
        e = np.zeros_like(flat)
        e[k] = h
        Hm[:, k] = (grad(flat + e) - grad(flat - e)) / (2 * h)
    return 0.5 * (Hm + Hm.T)


def symmetric(lower):
    return np.tril(lower) + np.tril(lower, -1).T


def test_ggn_equals_hessian_for_linear_softmax():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 6))
    y = rng.integers(0, 4, 40)
    Wb = rng.normal(size=(7, 4))
    ggn = symmetric(curv.last_layer_ggn(X, linear_softmax(Wb, X), chunk_size=13))
    np.testing.assert_allclose(ggn, linear_softmax_hessian_fd(Wb, X, y), atol=1e-7, rtol=1e-6)


def test_kfac_exact_for_linear_softmax_at_zero_weights():
    """At w = 0 every Lambda_i is the same, so sum_i Lambda kron a_i a_i^T = N A kron G exactly."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 5))
    P = linear_softmax(np.zeros((6, 3)), X)
    exact = np.linalg.eigvalsh(symmetric(curv.last_layer_ggn(X, P)))
    factor = curv.dense_layer_factor("softmax", X, curv.softmax_curvature_root(P))
    np.testing.assert_allclose(np.sort(factor.ggn_eigenvalues()), np.clip(exact, 0, None), atol=1e-9)
    # ... and with one example at non-zero weights.
    P1 = linear_softmax(rng.normal(size=(6, 3)), X[:1])
    exact1 = np.linalg.eigvalsh(symmetric(curv.last_layer_ggn(X[:1], P1)))
    factor1 = curv.dense_layer_factor("softmax", X[:1], curv.softmax_curvature_root(P1))
    np.testing.assert_allclose(np.sort(factor1.ggn_eigenvalues()), np.clip(exact1, 0, None), atol=1e-12)


def test_reduced_softmax_ggn_has_the_nonzero_spectrum():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(25, 4))
    P = linear_softmax(rng.normal(size=(5, 4)), X)
    full = np.linalg.eigvalsh(symmetric(curv.last_layer_ggn(X, P)))
    reduced = np.linalg.eigvalsh(symmetric(curv.reduced_last_layer_ggn(X, P, chunk_size=6)))
    np.testing.assert_allclose(np.sort(np.concatenate([reduced, np.zeros(5)])), full, atol=1e-9)
    U = curv.identifiable_basis(4)
    np.testing.assert_allclose(U.T @ U, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(U.T @ np.ones(4), 0, atol=1e-12)


def test_exact_softmax_layer_eigenvalues_match_full_ggn_block(tiny):
    w, X, y = tiny
    G = full_ggn(ARCH, w, X)
    s = layer_slices(ARCH)[1]
    np.testing.assert_allclose(
        curv.last_layer_ggn_eigenvalues(ARCH, w, X, chunk_size=7),
        np.clip(np.linalg.eigvalsh(G[np.ix_(s, s)]), 0, None), atol=1e-8,
    )


def test_two_class_softmax_evidence_equals_logistic_evidence():
    """A 2-class linear softmax with weights (w0, w1), prior precision lambda on both, has logit
    difference (w1 - w0).x. In the orthonormal coordinates u = (w1 - w0)/sqrt 2, v = (w1 + w0)/sqrt 2
    (prior precision lambda on each) the likelihood depends on u only, so the evidence is that of
    logistic regression on weights w1 - w0 = sqrt 2 u, i.e. prior precision lambda / 2, and the v
    directions contribute ln(lambda/lambda) = 0 to the Occam factor. Hence, exactly and in the
    Laplace approximation: Z_softmax2(lambda) = Z_logistic(lambda / 2), at the MAP point
    w1 = -w0 = u_logistic / 2."""
    rng = np.random.default_rng(3)
    n, d = 60, 5
    X = rng.normal(size=(n, d))
    y = (X @ rng.normal(size=d) + rng.normal(size=n) > 0).astype(float)
    lam = 0.7
    design = logistic.design_matrix(X, 1.0)
    fit = logistic.minimise_cost(design, y, lam / 2)
    expected = laplace_log_evidence(fit.cost, None, lam / 2, cholesky_factor=fit.hessian_cholesky).log_evidence

    Wb = np.column_stack([-fit.weights / 2, fit.weights / 2])  # [d + 1, 2]
    P = linear_softmax(Wb, X)
    ce = -float(np.log(P[np.arange(n), y.astype(int)]).sum())
    eig = np.clip(np.linalg.eigvalsh(symmetric(curv.last_layer_ggn(X, P))), 0, None)
    got = me.laplace_terms(ce, float((Wb**2).sum()), eig, lam).log_evidence
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-9)
    # The Hessian there is the exact one (GGN == Hessian for a linear softmax), so this is the
    # same Laplace evidence as with the brute-force Hessian:
    brute = np.linalg.eigvalsh(linear_softmax_hessian_fd(Wb, X, y.astype(int)))
    assert me.laplace_terms(ce, float((Wb**2).sum()), np.clip(brute, 0, None), lam).log_evidence == pytest.approx(
        expected, abs=1e-5)


# --- Hessian-vector products and the sharpness -----------------------------------------------


def test_hessian_vector_product_matches_finite_differences(tiny):
    w, X, y = tiny
    Hfd = summed_hessian_fd(ARCH, w, X, y) / N  # mean cross-entropy
    hvp = curv.HessianVectorProduct(ARCH, w, X, y)
    v = np.random.default_rng(4).normal(size=ARCH.n_params)
    np.testing.assert_allclose(hvp(v), Hfd @ v, rtol=1e-6, atol=1e-8)


def test_sharpness_matches_eigvalsh_of_the_hessian(tiny):
    w, X, y = tiny
    top = np.linalg.eigvalsh(summed_hessian_fd(ARCH, w, X, y) / N)[-1]
    got = curv.sharpness(ARCH, w, X, y, np.random.default_rng(5), tolerance=1e-8)
    assert got.eigenvalue == pytest.approx(top, rel=1e-6)
    assert got.matvecs > 0


def test_ggn_trace_matches_explicit_ggn(tiny):
    w, X, y = tiny
    assert curv.ggn_trace(ARCH, w, X, chunk_size=11) == pytest.approx(np.trace(full_ggn(ARCH, w, X)), rel=1e-8)


# --- gradient noise scale --------------------------------------------------------------------


def test_b_simple_matches_stored_per_example_gradients(tiny):
    w, X, y = tiny
    l2 = 0.3
    g = np.stack([loss_and_gradient(ARCH, w, X[i : i + 1], y[i : i + 1])[1] for i in range(N)])
    G = g.mean(axis=0)
    trace = ((g - G) ** 2).sum() / (N - 1)
    G_total = G + (l2 / N) * w
    got = curv.gradient_noise_scale(ARCH, w, X, y, l2=l2, chunk_size=9)
    assert got.trace_covariance == pytest.approx(trace, rel=1e-9)
    assert got.gradient_norm_squared == pytest.approx(G_total @ G_total, rel=1e-9)
    assert got.b_simple == pytest.approx(trace / (G_total @ G_total), rel=1e-9)


# --- the evidence from eigenvalues -----------------------------------------------------------


def test_laplace_terms_and_maximising_precision():
    rng = np.random.default_rng(6)
    e = np.concatenate([rng.gamma(1.0, 50.0, 40), np.zeros(10)])
    w_sq, ce = 12.0, 30.0

    def ln_z(lam):
        p = len(e)
        return -ce - lam / 2 * w_sq + p / 2 * math.log(lam) - 0.5 * np.log(e + lam).sum()

    t = me.laplace_terms(ce, w_sq, e, 0.5)
    assert t.log_evidence == pytest.approx(ln_z(0.5), rel=1e-12)
    assert t.occam_factor >= 0
    lam_star, interior = me.maximising_prior_precision(w_sq, e)
    assert interior
    grid = np.exp(np.linspace(math.log(lam_star) - 2, math.log(lam_star) + 2, 401))
    assert max(ln_z(l) for l in grid) <= ln_z(lam_star) + 1e-9
    gamma = (e / (e + lam_star)).sum()
    assert lam_star * w_sq == pytest.approx(gamma, rel=1e-8)  # MacKay's fixed point
    # No curvature: the evidence grows without bound as lambda -> 0 is impossible; it peaks at the lower bound.
    assert me.maximising_prior_precision(w_sq, np.zeros(5), (1e-3, 1e3)) == (1e-3, False)


def test_run_evidence_table(tiny):
    w, X, y = tiny
    settings = me.EvidenceSettings(prior_precisions=(0.1, 1.0), sharpness_tolerance=1e-6, exact_network=True,
                                   slq_probes=5, slq_steps=10)
    out = me.run_evidence(ARCH, w, X, y, settings, np.random.default_rng(0))
    assert sorted(out["method"].unique()) == sorted(me.METHODS)
    assert len(out) == 5 * 3
    assert np.allclose(out["log_evidence"], out["depth"] - out["occam_factor"])
    assert np.allclose(out["log_evidence_ratio"], out["log_evidence"] + N * math.log(3))
    best = out[out["prior_kind"] == "maximum"].set_index("method")["log_evidence"]
    grid = out[out["prior_kind"] == "grid"].groupby("method")["log_evidence"].max()
    assert (best.sort_index() >= grid.sort_index() - 1e-9).all()
    assert out.loc[out["method"] == "kfac", "n_parameters"].iloc[0] == ARCH.n_params
    # KFAC's trace, N sum_layers tr(mean_i a_i a_i^T) tr(mean_i G_i), against brute force: the
    # per-example GGN block of a layer is (a_i a_i^T) kron G_i, so tr G_i = tr(block_i) / |a_i|^2,
    # from finite-difference Jacobians (not from the factors the code computed).
    hidden = np.maximum(X @ ARCH.unpack(w).W1 + ARCH.unpack(w).b1, 0)
    inputs = [np.c_[X, np.ones(N)], np.c_[hidden, np.ones(N)]]  # a_i of each layer, bias appended
    expected = 0.0
    for a, block in zip(inputs, layer_slices(ARCH)):
        traces = np.array([np.trace(full_ggn(ARCH, w, X[i : i + 1])[np.ix_(block, block)]) for i in range(N)])
        a_sq = (a**2).sum(axis=1)
        expected += N * a_sq.mean() * (traces / a_sq).mean()
    assert out["kfac_ggn_trace"].iloc[0] == pytest.approx(expected, rel=1e-6)


# --- exact GGN spectrum (Gram matrix) and the non-MAP term --------------------------------------


def brute_gradient(arch, w, X, y):
    """grad H of the summed cross-entropy from the training code's mean loss and gradient."""
    return X.shape[0] * loss_and_gradient(arch, w, X, y)[1]


def test_gram_spectrum_is_the_full_ggn_spectrum(tiny):
    w, X, y = tiny
    gram = curv.gram_spectrum(ARCH, w, X, y)
    assert len(gram.eigenvalues) == N * (ARCH.n_classes - 1) < ARCH.n_params
    brute = np.clip(np.linalg.eigvalsh(full_ggn(ARCH, w, X)), 0, None)
    assert np.allclose(gram.ggn_eigenvalues(), brute, rtol=1e-6, atol=1e-6 * brute.max())
    for lam in (1e-3, 0.1, 10.0):  # the log determinant the evidence reads, exact at every lambda
        assert np.log1p(gram.ggn_eigenvalues() / lam).sum() == pytest.approx(np.log1p(brute / lam).sum(), rel=1e-7)


def test_non_map_term_matches_a_dense_solve(tiny):
    w, X, y = tiny
    gram = curv.gram_spectrum(ARCH, w, X, y)
    ggn = full_ggn(ARCH, w, X)
    grad = brute_gradient(ARCH, w, X, y)
    assert np.allclose(curv.summed_gradient(ARCH, w, X, y, curv.forward_cache(ARCH, w, X)), grad, atol=1e-10)
    for lam in (1e-2, 1.0, 30.0):
        g = grad + lam * w
        expected = 0.5 * g @ np.linalg.solve(ggn + lam * np.eye(ARCH.n_params), g)
        assert gram.non_map_term(lam) == pytest.approx(expected, rel=1e-6)
    # at a point with zero gradient of C (here: a fake gradient -lambda w) the term vanishes
    at_minimum = curv.GramSpectrum(**{**gram.__dict__, "gradient_coordinates": -1.0 * gram.weight_coordinates,
                                      "gradient_norm_squared": gram.weight_norm_squared,
                                      "gradient_dot_weights": -gram.weight_norm_squared})
    assert at_minimum.non_map_term(1.0) == pytest.approx(0.0, abs=1e-9)


def test_kfac_non_map_term_matches_a_dense_solve_of_kfac(tiny):
    """KFAC's quadratic form in its eigenbasis against N (A kron G) built densely, layer by layer."""
    w, X, y = tiny
    settings = me.EvidenceSettings(prior_precisions=(0.5,), exact_softmax_layer=False)
    out = me.run_evidence(ARCH, w, X, y, settings, np.random.default_rng(0))
    factors = curv.kfac_factors(ARCH, w, X)
    q = ARCH.unpack(brute_gradient(ARCH, w, X, y) + 0.5 * w)
    expected = 0.0
    for f, block in zip(factors, [np.vstack([q.W1, q.b1]), np.vstack([q.W2, q.b2])]):
        v = block.ravel()  # row-major [inputs + bias, outputs]: the order of kron(A, G)
        dense = N * np.kron(f.A, f.G) + 0.5 * np.eye(len(v))
        expected += 0.5 * v @ np.linalg.solve(dense, v)
    row = out[(out["method"] == "kfac") & (out["prior_kind"] == "grid")].iloc[0]
    assert row["non_map_term"] == pytest.approx(expected, rel=1e-8)
    assert out.loc[out["method"] == "kfac_softmax_layer", "non_map_term"].isna().all()


def test_exact_method_rows(tiny):
    w, X, y = tiny
    settings = me.EvidenceSettings(prior_precisions=(0.1, 1.0), exact_softmax_layer=False, exact_network=True)
    out = me.run_evidence(ARCH, w, X, y, settings, np.random.default_rng(0))
    exact = out[out["method"] == "exact"].set_index("prior_kind")
    brute = np.clip(np.linalg.eigvalsh(full_ggn(ARCH, w, X)), 0, None)
    ce = -log_softmax(logits(ARCH, w, X))[np.arange(N), y].sum()
    grid = exact.loc["grid"].iloc[0]
    lam = grid["prior_precision"]
    expected = -ce - 0.5 * lam * (w @ w) - 0.5 * np.log1p(brute / lam).sum()
    assert grid["log_evidence"] == pytest.approx(expected, rel=1e-8)
    assert grid["non_map_term"] > 0 and exact["n_parameters"].iloc[0] == ARCH.n_params
    assert sorted(me.diverged_rows(settings, N, 3)["method"].unique()) == ["exact", "kfac", "kfac_softmax_layer"]


# --- claims ------------------------------------------------------------------------------------


def fake_table(evidence_by_b, accuracy_by_b, seeds=(0, 1), failed=()):
    rows = []
    for b in evidence_by_b:
        for s in seeds:
            status = "diverged" if b in failed else "ok"
            rows.append(dict(method="kfac", prior_kind="maximum", prior_precision=1.0, n_train=1000,
                             learning_rate=1.0, momentum=0.9, l2=0.0, steps=100, batch_size=b, seed=s,
                             status=status, test_accuracy=accuracy_by_b[b] + 0.001 * s, prior_interior=b != 1000,
                             log_evidence_ratio_per_example=evidence_by_b[b] + 0.001 * s))
    return pd.DataFrame(rows)


THRESHOLDS = EvidenceThresholds(method="kfac", prior_precision="maximum", min_spearman=0.5, min_runs=5, max_grid_steps=1,
                                min_fraction=0.75, min_batch_sizes=3, well_trained_accuracy=0.85,
                                min_well_trained_batch_sizes=4, min_median_within_curve_rho=0.5,
                                min_positive_fraction=0.666, failed_accuracy=0.15)


def evidence_claims(table, harder=False):
    """The evidence claims judged by the registry, as the workflow judges them: the first two, or
    (``harder``) the two among well-trained networks."""
    rows = claims.evaluate_claims({"evidence": table}, {"evidence.claims": THRESHOLDS})
    return rows[2:] if harder else rows[:2]


def curves_table(evidence_by_b, accuracy_by_b, n_curves, **kwargs):
    """``n_curves`` copies of :func:`fake_table`'s curve, one per training-set size."""
    return pd.concat([fake_table(evidence_by_b, accuracy_by_b, **kwargs).assign(n_train=1000 + k) for k in range(n_curves)],
                     ignore_index=True)


def test_claims_hold_and_fail():
    acc = {1: 0.5, 10: 0.7, 30: 0.8, 100: 0.85, 300: 0.8, 1000: 0.75}
    good = curves_table({b: a for b, a in acc.items()}, acc, 6, failed=(1,))
    ranks, peak = evidence_claims(good)
    assert ranks.verdict == HOLDS and peak.verdict == HOLDS, peak.measured
    # one curve alone: a random argmax lands within a step of B = 100 with probability 3/5, so
    # even a perfect match is no better than the null's 95th percentile
    ranks, peak = evidence_claims(fake_table({b: a for b, a in acc.items()}, acc, failed=(1,)))
    assert ranks.verdict == HOLDS and peak.verdict == UNDECIDED
    assert "permutation null: mean 60%, 95th percentile 100%" in peak.measured and "(0 steps)" in peak.measured
    assert "2 failed" in ranks.measured and "2 of the trained runs have their evidence-maximising lambda on a search bound" in ranks.measured
    bad = fake_table({b: -a for b, a in acc.items()}, acc)
    ranks, peak = evidence_claims(bad)
    assert ranks.verdict == DOES_NOT_HOLD and peak.verdict == DOES_NOT_HOLD
    few = fake_table({1: 0.1, 10: 0.2}, {1: 0.5, 10: 0.6}, seeds=(0,))
    assert all(c.verdict == NOT_MEASURED for c in evidence_claims(few))


def test_the_peaks_claim_has_no_power_on_three_point_curves():
    """Three trained batch sizes with the accuracy optimum in the middle: any argmax is within one
    step, so agreement on every curve is what chance gives (issue: 7/9 on a 3-point curve)."""
    acc = {10: 0.8, 30: 0.9, 100: 0.85}
    table = curves_table(dict(acc), acc, 12)
    peaks = evidence_peaks(table, THRESHOLDS)
    assert np.allclose(peaks["p_null"], 1.0)
    peak = evidence_claims(table)[1]
    assert peak.verdict == UNDECIDED and "12/12 curves within" in peak.measured
    # accuracy optimum at an end of the grid: a random argmax is within one step 2/3 of the time
    edge = {10: 0.9, 30: 0.85, 100: 0.8}
    assert np.allclose(evidence_peaks(curves_table(dict(edge), edge, 2), THRESHOLDS)["p_null"], 2 / 3)


def test_null_fraction_quantile_is_the_poisson_binomial_percentile():
    from bayes_sgd.claims.evidence import null_fraction_quantile

    # 12 three-point curves: P(all 12 within) = (7/9)^12 = 0.049, so the 95th percentile is 11 of 12
    # (the default run's 11/12 is what chance gives; only 12/12 beats it)
    assert null_fraction_quantile(np.full(12, 7 / 9)) == 11 / 12
    assert null_fraction_quantile(np.full(20, 0.5)) == 14 / 20  # Binomial(20, 0.5): P(X <= 14) = 0.979, P(X <= 13) = 0.942
    rng = np.random.default_rng(0)
    p = rng.uniform(0.3, 0.9, 15)
    draws = (rng.random((200_000, 15)) < p).sum(axis=1)
    assert null_fraction_quantile(p) == np.quantile(draws, 0.95, method="inverted_cdf") / 15


def test_evidence_peaks_count_grid_steps_including_failed_batch_sizes():
    acc = {1: 0.1, 10: 0.7, 30: 0.8, 100: 0.9, 300: 0.85, 1000: 0.8}
    ev = {1: 5.0, 10: 0.1, 30: 0.2, 100: 0.3, 300: 0.4, 1000: 0.5}  # B = 1 failed: its high evidence must not count
    table = fake_table(ev, acc)
    peaks = evidence_peaks(table, THRESHOLDS)
    assert peaks[["b_evidence", "b_accuracy", "grid_steps", "n_failed"]].iloc[0].tolist() == [1000, 100, 2, 2]


def test_diverged_rows():
    rows = me.diverged_rows(me.EvidenceSettings(prior_precisions=(0.1, 1.0)), 40, 10)
    assert len(rows) == 6 and rows["log_evidence"].isna().all()
    assert np.allclose(rows["null_log_evidence"], -40 * math.log(10))


# --- figures -----------------------------------------------------------------------------------


def figure_table():
    """Figure 4 runs: B = 1 diverged (no evidence, no accuracy), B = 10 trained badly (at chance,
    with an evidence), the rest trained."""
    acc = {1: np.nan, 10: 0.1, 100: 0.85, 1000: 0.9}
    ev = {1: np.nan, 10: -0.4, 100: 0.7, 1000: 2.2}
    table = fake_table(ev, acc, failed=(1,))
    return table.assign(figure_4=True, null_log_evidence=-1000 * math.log(10),
                        depth_per_example=table["log_evidence_ratio_per_example"] - math.log(10) + 0.1,
                        occam_factor_per_example=0.1)


def data_points(ax, label_start):
    """(x, y) of the lines of ``ax`` drawn in data coordinates whose label starts with ``label_start``."""
    lines = [ln for ln in ax.get_lines() if ln.get_label().startswith(label_start)]
    return [(x, y) for ln in lines if ln.get_transform() == ax.transData for x, y in ln.get_xydata()]


def test_evidence_figures_never_draw_a_missing_value_as_zero():
    from bayes_sgd.figures.evidence import plot_evidence_vs_accuracy, plot_evidence_vs_batch_size

    table = figure_table()
    fig = plot_evidence_vs_batch_size(table, method="kfac", prior="maximum", failed_accuracy=0.15)
    ax = fig.axes[0]
    failed = data_points(ax, "failed to train")
    assert sorted(failed) == [(10.0, -0.4), (10.0, -0.399)]  # at their own evidence, not at 0
    (diverged,) = [ln for ln in ax.get_lines() if ln.get_label().startswith("diverged, no evidence (2)")]
    assert diverged.get_transform() != ax.transData  # on the axes' edge, not at a value
    assert list(diverged.get_xdata()) == [1, 1]

    fig = plot_evidence_vs_accuracy(table, method="kfac", prior="maximum", failed_accuracy=0.15)
    ax = fig.axes[0]
    points = [(x, y) for ln in ax.get_lines() for x, y in ln.get_xydata()]
    assert (0.0, 0.0) not in points and all(np.isfinite(points).ravel())
    assert sorted(data_points(ax, "failed to train")) == [(0.1, -0.4), (pytest.approx(0.101), pytest.approx(-0.399))]
    assert "4 failed runs excluded, 2 of them diverged and not drawn" in ax.get_title()


def check_table():
    """Evidence rows of three runs: B = 10 with kfac, slq and exact; B = 100 with kfac and slq;
    B = 300 with kfac only."""
    rows = []
    for b, methods in ((10, ("kfac", "slq", "exact")), (100, ("kfac", "slq")), (300, ("kfac",))):
        for m in methods:
            base = {"kfac": 0.5, "exact": 0.2, "slq": 0.21}[m] + b / 1000
            top = {"kfac": 3.0, "exact": 0.8, "slq": 0.9}[m]
            for lam, kind in ((0.1, "grid"), (1.0, "grid"), (10.0, "grid"), (top, "maximum")):
                rows.append(dict(n_train=1000, learning_rate=1.0, momentum=0.9, batch_size=b, l2=0.0, steps=100, seed=0,
                                 method=m, prior_kind=kind, prior_precision=lam, status="ok", test_accuracy=0.9,
                                 log_evidence_ratio_per_example=base + ({"kfac": 0.05, "exact": 0.01, "slq": 0.01}[m]
                                                                        if kind == "maximum" else -lam / 100),
                                 non_map_term_per_example={"kfac": 0.3, "exact": 0.07, "slq": np.nan}[m],
                                 occam_standard_error_per_example={"slq": 0.002}.get(m, np.nan),
                                 occam_bound_per_example={"slq": 1e-5}.get(m, np.nan),
                                 kfac_ggn_trace=2000.0, ggn_trace=100.0))
    return pd.DataFrame(rows)


def test_estimator_check_compares_kfac_with_slq_and_exact_run_by_run():
    from bayes_sgd.claims.evidence import estimator_check
    from bayes_sgd.claims.report import evidence_check_frame, kfac_error_summary

    check = estimator_check(check_table())
    assert list(check["batch_size"]) == [10, 100]  # the run with KFAC alone has no row
    r = check.iloc[0]
    assert (r["exact"], r["slq"], r["kfac"]) == (pytest.approx(0.22), pytest.approx(0.23), pytest.approx(0.56))
    assert r["kfac_minus_exact"] == pytest.approx(0.34) and r["kfac_minus_slq"] == pytest.approx(0.33)
    assert r["slq_minus_exact"] == pytest.approx(0.01)
    assert r["kfac_minus_exact_same_lambda"] == pytest.approx(0.3)  # both on the grid lambda nearest 0.8: 1.0
    assert r["kfac_minus_slq_same_lambda"] == pytest.approx(0.29)  # nearest 0.9: 1.0
    assert (r["lambda_exact"], r["lambda_slq"], r["lambda_kfac"]) == (0.8, 0.9, 3.0)
    assert (r["exact_non_map"], r["kfac_non_map"], r["trace_ratio"]) == (0.07, 0.3, 20.0)
    assert (r["slq_standard_error"], r["slq_bound"]) == (0.002, 1e-5)
    r = check.iloc[1]
    assert np.isnan(r["exact"]) and np.isnan(r["slq_minus_exact"]) and r["kfac_minus_slq"] == pytest.approx(0.33)
    frame = evidence_check_frame(check)
    assert list(frame["SLQ ln Z/N - null (SE)"]) == ["0.2300 (0.0020)", "0.3200 (0.0020)"]
    assert list(frame["Exact ln Z/N - null"]) == ["0.2200", "-"]
    summary = kfac_error_summary(check)
    assert "over the 2 runs with both" in summary and "2 runs off by more than 0.01" in summary
    assert "SLQ minus exact on the 1 runs with both: largest |difference| 0.01000" in summary
    table = check_table()
    no_exact = estimator_check(table[table["method"] != "exact"])
    assert "No run of this configuration has the exact evidence" in kfac_error_summary(no_exact)
    assert estimator_check(table[table["method"] == "kfac"]).empty


def measures_table(curves):
    """Well-trained curves: per curve a dict B -> (test accuracy, evidence, sharpness, GGN trace,
    Occam factor per example), two seeds each, one curve per N."""
    rows = []
    for k, curve in enumerate(curves):
        for b, (acc, ev, sharp, trace, occam) in curve.items():
            for s in (0, 1):
                rows.append(dict(method="kfac", prior_kind="maximum", prior_precision=1.0, n_train=1000 + k,
                                 learning_rate=1.0, momentum=0.9, l2=0.0, steps=100, batch_size=b, seed=s,
                                 status="ok", test_accuracy=acc + 0.0001 * s, prior_interior=True,
                                 log_evidence_ratio_per_example=ev, sharpness=sharp, ggn_trace=trace,
                                 occam_factor_per_example=occam))
    return pd.DataFrame(rows)


def test_harder_claims_read_only_well_trained_batch_sizes():
    from bayes_sgd.claims.evidence import within_curve_measures

    # accuracy 0.86-0.92 on B = 30 ... 1000; B = 10 partly trained (0.5): its low evidence must not count
    acc = {10: 0.5, 30: 0.86, 100: 0.92, 300: 0.90, 1000: 0.88}
    follows = {b: (a, a, 1 / a, 1 / a, 1 - a) for b, a in acc.items()}  # every measure ranks like accuracy
    evidence_only = {b: (a, a, a, a, a) for b, a in acc.items()}  # the other measures rank backwards
    reversed_ = {b: (a, (-a if a > 0.6 else -5.0), 1 / a, 1 / a, 1 - a) for b, a in acc.items()}
    m = within_curve_measures(measures_table([follows] * 3), THRESHOLDS)
    assert set(m["n_batch_sizes"]) == {4} and np.allclose(m["rho"], 1.0)  # B = 10 left out
    ranks, beats = evidence_claims(measures_table([evidence_only] * 3), harder=True)
    assert ranks.verdict == HOLDS and beats.verdict == HOLDS, beats.measured
    assert "median rho 1.00 over 3 curves, rho > 0 on 3/3" in ranks.measured
    # evidence that is high at B = 10 only through the dead-versus-alive contrast is not enough:
    # among the well-trained batch sizes it ranks them backwards
    ranks, beats = evidence_claims(measures_table([reversed_] * 3), harder=True)
    assert ranks.verdict == DOES_NOT_HOLD and beats.verdict == DOES_NOT_HOLD
    # a tie with another measure is not "beats"
    ranks, beats = evidence_claims(measures_table([follows] * 3), harder=True)
    assert ranks.verdict == HOLDS and beats.verdict == DOES_NOT_HOLD
    # rho > 0 on two curves of three (the bar, 2/3) with median 1: holds; on one of three: does not
    ranks, _ = evidence_claims(measures_table([evidence_only, evidence_only, reversed_]), harder=True)
    assert ranks.verdict == HOLDS and "rho > 0 on 2/3" in ranks.measured
    ranks, _ = evidence_claims(measures_table([evidence_only, reversed_, reversed_]), harder=True)
    assert ranks.verdict == DOES_NOT_HOLD
    # curves with too few well-trained batch sizes: not measured
    short = {b: v for b, v in follows.items() if b <= 100}
    ranks, beats = evidence_claims(measures_table([short]), harder=True)
    assert ranks.verdict == NOT_MEASURED and beats.verdict == NOT_MEASURED


# --- SLQ ---------------------------------------------------------------------------------------


def test_gauss_newton_product_matches_the_dense_ggn(tiny):
    w, X, _ = tiny
    v = np.random.default_rng(1).normal(size=ARCH.n_params)
    assert np.allclose(curv.GaussNewtonProduct(ARCH, w, X)(v), full_ggn(ARCH, w, X) @ v, rtol=1e-6, atol=1e-8)


def test_gram_product_matches_the_gram_matrix(tiny):
    w, X, y = tiny
    gram = curv.GramProduct(ARCH, w, X)
    K = curv.gram.gram_matrix(ARCH, w, X, gram.cache, gram.S)
    u = np.random.default_rng(2).normal(size=gram.dimension)
    assert gram.dimension == N * (ARCH.n_classes - 1) and np.allclose(gram(u), K @ u, rtol=1e-9, atol=1e-9)


def test_slq_occam_factor_within_its_interval_of_the_dense_answer(tiny):
    """How often the dense Occam factor lies within SLQ's 95% interval (Student t over 20 probes,
    30 Lanczos steps on the Gram side), over 100 probe seeds at each of three decades of lambda.

    Measured when written: 93, 89 and 91 of 100 (lambda = 0.01, 1, 100), a little under the
    nominal 95 (Hutchinson's estimate is not normal over 20 probes when a few eigenvalues
    dominate); on seeds 0-9 alone it is 8 of 10 at each lambda, short of the 9 of 10 that issue
    19 asked for. The bar below, 85, fails if the standard error is off by a factor of about
    1.5 or the estimate is biased by one standard error."""
    from scipy import stats

    w, X, _ = tiny
    dense = np.clip(np.linalg.eigvalsh(full_ggn(ARCH, w, X)), 0, None)
    half_width = stats.t.ppf(0.975, 19)
    gram = curv.GramProduct(ARCH, w, X)
    inside = {lam: 0 for lam in (1e-2, 1.0, 100.0)}
    for seed in range(100):
        quad = curv.slq_spectrum(gram, gram.dimension, 20, 30, np.random.default_rng(seed))
        nodes, mass = quad.pooled()
        assert mass.sum() == pytest.approx(gram.dimension)
        for lam in inside:
            error = 0.5 * mass @ np.log1p(nodes / lam) - 0.5 * np.log1p(dense / lam).sum()
            inside[lam] += abs(error) <= half_width * quad.occam_standard_error(lam)
    assert min(inside.values()) >= 85, inside


def test_lanczos_quadrature_is_exact_for_polynomials_up_to_its_degree():
    """k Gauss nodes integrate moments 0 .. 2k-1 of the start vector's spectral measure exactly."""
    rng = np.random.default_rng(0)
    A = rng.normal(size=(30, 30))
    A = A @ A.T / 30
    z = rng.normal(size=30)
    theta, tau2 = curv.slq.lanczos_nodes(lambda v: A @ v, z, 5)
    q = z / np.linalg.norm(z)
    for k in range(10):
        assert tau2 @ theta**k == pytest.approx(q @ np.linalg.matrix_power(A, k) @ q, rel=1e-8)


def test_run_evidence_slq_rows(tiny):
    """Method slq on both of its solvers: the kept rows' exact eigenvalues (no standard error; the
    exact Occam factor within the pruning bound above) and deflated SLQ (within four standard errors)."""
    w, X, y = tiny
    for dense_rows, block in ((10_000, 100), (0, 4)):
        settings = me.EvidenceSettings(prior_precisions=(0.1, 1.0), exact_softmax_layer=False, exact_network=True,
                                       slq_probes=30, slq_steps=25, slq_dense_rows=dense_rows, slq_block=block,
                                       slq_block_steps=2)
        out = me.run_evidence(ARCH, w, X, y, settings, np.random.default_rng(0))
        slq = out[(out["method"] == "slq") & (out["prior_kind"] == "grid")].set_index("prior_precision")
        exact = out[(out["method"] == "exact") & (out["prior_kind"] == "grid")].set_index("prior_precision")
        assert (slq["n_parameters"] == ARCH.n_params).all()
        assert np.allclose(slq["depth"], exact["depth"])
        gap = exact["occam_factor"] - slq["occam_factor"]
        if dense_rows:
            assert (slq["occam_standard_error"] == 0).all() and (out["slq_solver"] == "dense").all()
            assert ((gap >= -1e-9) & (gap <= slq["occam_bound"] + 1e-9)).all(), (gap, slq["occam_bound"])
        else:
            assert (slq["occam_standard_error"] > 0).all() and (out["slq_solver"] == "lanczos").all()
            assert (abs(gap) <= 4 * slq["occam_standard_error"] + slq["occam_bound"]).all()
        assert out.loc[out["method"] == "kfac", "occam_standard_error"].isna().all()
        assert out.loc[out["method"] == "kfac", "occam_bound"].isna().all()
    # method slq off (probes 0): no slq rows, the run columns say so
    out = me.run_evidence(ARCH, w, X, y, me.EvidenceSettings(prior_precisions=(0.1,), slq_probes=0), np.random.default_rng(0))
    assert "slq" not in set(out["method"]) and (out["slq_solver"] == "").all() and out["gram_rows"].isna().all()


def psd_with_negligible_rows(seed: int, n: int = 60, small: int = 40) -> np.ndarray:
    """A PSD matrix whose last ``small`` rows are tiny (confidently fitted examples' rows)."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(n, 30))
    M[n - small:] *= 1e-4 * rng.uniform(size=(small, 1))
    return M @ M.T


def test_pruning_lowers_the_occam_factor_by_at_most_its_bound():
    """Dropping rows whose diagonals sum to t lowers 1/2 ln det(I + K / lambda) by 0 to t / (2 lambda)
    (interlacing and Fischer's inequality), at every lambda, and keeps the largest rows."""
    for seed in range(5):
        K = psd_with_negligible_rows(seed)
        d = np.diag(K)
        for budget in (0.0, 1e-8, 1e-6, 1e-3):
            kept, dropped = curv.pruned_rows(d, budget)
            assert dropped <= budget and dropped == pytest.approx(d.sum() - d[kept].sum(), abs=1e-12)
            assert d[np.setdiff1d(np.arange(len(d)), kept)].max(initial=0) <= d[kept].min()
            e_all = np.clip(np.linalg.eigvalsh(K), 0, None)
            e_kept = np.clip(np.linalg.eigvalsh(K[np.ix_(kept, kept)]), 0, None)
            for lam in (1e-6, 1e-3, 1.0):
                gap = 0.5 * (np.log1p(e_all / lam).sum() - np.log1p(e_kept / lam).sum())
                assert -1e-9 <= gap <= dropped / (2 * lam) + 1e-9
        assert len(curv.pruned_rows(d, 1e-6)[0]) < len(d)  # the tiny rows do go
    with pytest.raises(ValueError, match="non-negative"):
        curv.pruned_rows(np.ones(3), -1.0)


def test_gram_rows_and_diagonal_are_those_of_the_gram_matrix(tiny):
    w, X, _ = tiny
    gram = curv.GramProduct(ARCH, w, X)
    K = curv.gram.gram_matrix(ARCH, w, X, gram.cache, gram.S)
    assert np.allclose(curv.gram.gram_diagonal(ARCH, w, X, gram.cache, gram.S), np.diag(K), rtol=1e-12, atol=1e-14)
    rows = np.sort(np.random.default_rng(3).choice(gram.dimension, size=37, replace=False))
    assert np.allclose(curv.gram.gram_matrix(ARCH, w, X, gram.cache, gram.S, rows=rows), K[np.ix_(rows, rows)],
                       rtol=1e-12, atol=1e-14)


def test_deflated_slq_against_the_dense_answer():
    """A spectrum of 20 large eigenvalues over a small bulk (a trained network's, in miniature):
    the deflation's Ritz values take the large ones, the probes the bulk, and the Occam factor lies
    within three standard errors of the dense one on at least 9 of 10 seeds; with the block space
    spanning the whole rank the estimate is exact and its standard error 0."""
    rng = np.random.default_rng(0)
    n = 400
    Q = np.linalg.qr(rng.normal(size=(n, n)))[0]
    e = np.concatenate([10 ** rng.uniform(0, 2, 20), 10 ** rng.uniform(-6, -2, n - 20)])
    A = (Q * e) @ Q.T
    lam = 1e-3
    exact = 0.5 * np.log1p(e / lam).sum()
    inside = 0
    for seed in range(10):
        quad = curv.slq.deflated_slq(A.__matmul__, n, block=10, block_steps=3, probes=10, steps=20,
                                     rng=np.random.default_rng(seed))
        nodes, mass = quad.pooled()
        inside += abs(0.5 * mass @ np.log1p(nodes / lam) - exact) <= 3 * quad.occam_standard_error(lam)
    assert inside >= 9
    low = (Q[:, :15] * e[:15]) @ Q[:, :15].T  # rank 15 < block x block_steps
    quad = curv.slq.deflated_slq(low.__matmul__, n, block=10, block_steps=3, probes=5, steps=10,
                                 rng=np.random.default_rng(0))
    nodes, mass = quad.pooled()
    assert 0.5 * mass @ np.log1p(nodes / lam) == pytest.approx(0.5 * np.log1p(e[:15] / lam).sum(), rel=1e-8)
