// Package clv owns retain's customer-lifetime-value models: the "buy till you
// die" family for non-contractual settings (BG/NBD, Pareto/NBD, MBG/NBD), the
// Gamma-Gamma spend model, the discrete-time BG/BB model and the contractual
// shifted-beta-geometric (sBG) model, plus RFM summaries from raw
// transactions and the predictions built on the fitted models (expected
// purchases, P(alive), P(X(t)=k), next purchase time, expected spend,
// discounted and historic CLV, customer equity).
//
// Rules of the package:
//   - It imports only the standard library and gonum; inputs are plain
//     []float64 slices (frequency, recency, T, monetary), one element per
//     customer, in the caller's time unit.
//   - Fitting is maximum likelihood on log-parameters with gonum's BFGS.
//     Likelihoods are evaluated in log space (log-sum-exp, math.Lgamma); the
//     BG/NBD and Gamma-Gamma likelihoods have analytic gradients, compress
//     identical rows into weights, precompute what depends only on the
//     frequency and evaluate in fixed-size chunks on several goroutines whose
//     partial sums are added in chunk order, so results do not depend on the
//     number of cores.
//   - Fits return an immutable model value plus a [Report]; a fit that did not
//     converge is reported with Converged=false and never silently accepted
//     by the callers in this repository.
//   - Data that cannot identify a model (nobody repeats, no repeat buyer with
//     spend, …) is an [*InputError], which reports BadInput()=true.
//   - Nothing here allocates per row in hot loops; callers own output buffers
//     (the …To functions).
package clv
