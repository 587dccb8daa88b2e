package clv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"gonum.org/v1/gonum/mat"
	"gonum.org/v1/gonum/optimize"
)

// Options tunes a fit. The zero value gives the defaults.
type Options struct {
	// Penalizer adds Penalizer·Σθ² to the negative log-likelihood (as
	// lifetimes' penalizer_coef does). Default 0: plain maximum likelihood.
	Penalizer float64
	// MaxIterations bounds the optimiser's major iterations. Default 1000.
	MaxIterations int
	// Workers is the number of goroutines evaluating the likelihood. Default
	// runtime.GOMAXPROCS(0). Results do not depend on it.
	Workers int
	// Init is the starting point on the natural scale (one value per
	// parameter). Default: the model's own starting point.
	Init []float64
	// GradTol is the largest infinity norm of the gradient of the mean
	// log-likelihood with respect to the log-parameters at which a fit counts
	// as converged. Default 1e-5.
	GradTol float64
	// SkipStdErr skips the Hessian and standard errors (benchmarks).
	SkipStdErr bool
}

func (o *Options) withDefaults() Options {
	var d Options
	if o != nil {
		d = *o
	}
	if d.MaxIterations <= 0 {
		d.MaxIterations = 1000
	}
	if d.Workers <= 0 {
		d.Workers = runtime.GOMAXPROCS(0)
	}
	if d.GradTol <= 0 {
		d.GradTol = 1e-5
	}
	return d
}

// Report describes a fit: the estimates, their standard errors from the
// inverse Hessian of the log-likelihood, the total log-likelihood and how the
// optimiser ended.
type Report struct {
	Model         string
	ParamNames    []string
	Params        []float64
	StdErr        []float64 // NaN when the Hessian is not positive definite
	LogLikelihood float64   // total over customers (not the mean)
	N             float64   // customers (Σ weights)
	Rows          int       // distinct rows after compression
	Converged     bool
	Iterations    int
	Evaluations   int
	GradNorm      float64 // ∞-norm of ∂(mean LL)/∂log θ at the estimate
	Status        string  // optimiser status, and why a fit is not converged
	Elapsed       time.Duration
}

// objective returns the negative MEAN log-likelihood at log-parameters lp and,
// when grad is non-nil, its gradient with respect to lp.
type objective func(lp, grad []float64) float64

// logBound is the largest |log θ| the optimiser may reach; beyond it a
// quadratic wall keeps parameters finite (an unidentified direction then ends
// the fit as not converged instead of overflowing).
const logBound = 25.0

// edgeLog: an estimate beyond e^±edgeLog (about 1e7 / 1e-7) is a parameter
// running off to a degenerate limit, not an interior optimum.
var edgeLog = math.Log(1e7)

// bounded wraps an objective with the wall and the L2 penalizer.
func bounded(f objective, penal, total float64) objective {
	return func(lp, grad []float64) float64 {
		d := len(lp)
		var cl [8]float64
		c := cl[:d]
		var wall float64
		for i, v := range lp {
			c[i] = math.Max(-logBound, math.Min(logBound, v))
			if e := math.Abs(v) - logBound; e > 0 {
				wall += e * e
			}
		}
		v := f(c, grad)
		if penal > 0 {
			for i := range c {
				th := math.Exp(c[i])
				v += penal * th * th / total
				if grad != nil {
					grad[i] += 2 * penal * th * th / total
				}
			}
		}
		if grad != nil {
			for i, x := range lp {
				if math.Abs(x) > logBound {
					grad[i] = 2 * (math.Abs(x) - logBound) * math.Copysign(1, x)
				}
			}
		}
		if math.IsNaN(v) {
			v = math.Inf(1)
		}
		return v + wall
	}
}

// numericGrad turns a value-only objective into one with a central-difference
// gradient.
func numericGrad(f func(lp []float64) float64) objective {
	return func(lp, grad []float64) float64 {
		v := f(lp)
		if grad == nil {
			return v
		}
		var buf [8]float64
		p := buf[:len(lp)]
		copy(p, lp)
		const h = 1e-5
		for i := range lp {
			p[i] = lp[i] + h
			fp := f(p)
			p[i] = lp[i] - h
			fm := f(p)
			p[i] = lp[i]
			grad[i] = (fp - fm) / (2 * h)
		}
		return v
	}
}

// minimize fits one model: it runs BFGS on the log-parameters from init and,
// when that does not converge, once more from the alternative start alt (if
// any), keeping the better end point. f must be the objective WITHOUT the wall
// and penalty; total is Σ weights.
func minimize(ctx context.Context, model string, names []string, init, alt []float64, total float64, f objective, o Options) (*Report, error) {
	start := time.Now()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("fitting %s: %w", model, err)
	}
	if o.Init != nil {
		if len(o.Init) != len(names) {
			return nil, inputErrorf(0, "%s: %d initial values given, the model has %d parameters %v", model, len(o.Init), len(names), names)
		}
		init = o.Init
		alt = nil
	}
	g := bounded(f, o.Penalizer, total)
	rep := &Report{Model: model, ParamNames: names, N: total}
	best, err := runBFGS(ctx, g, init, o, rep)
	if err != nil {
		return nil, err
	}
	if !rep.Converged && alt != nil {
		r2 := &Report{Model: model, ParamNames: names, N: total}
		b2, err := runBFGS(ctx, g, alt, o, r2)
		if err != nil {
			return nil, err
		}
		if r2.Converged || r2.LogLikelihood > rep.LogLikelihood {
			r2.Iterations += rep.Iterations
			r2.Evaluations += rep.Evaluations
			rep, best = r2, b2
		}
	}
	rep.Params = make([]float64, len(best))
	for i, v := range best {
		rep.Params[i] = math.Exp(v)
	}
	rep.StdErr = make([]float64, len(best))
	for i := range rep.StdErr {
		rep.StdErr[i] = math.NaN()
	}
	if !o.SkipStdErr {
		stdErrors(g, best, total, rep.StdErr)
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// runBFGS minimises g from init (natural scale) and fills rep's optimiser
// fields; it returns the end point in log-parameters.
func runBFGS(ctx context.Context, g objective, init []float64, o Options, rep *Report) ([]float64, error) {
	d := len(init)
	x0 := make([]float64, d)
	for i, v := range init {
		if !(v > 0) || math.IsInf(v, 0) {
			return nil, inputErrorf(0, "%s: initial value %v for %s is not positive", rep.Model, v, rep.ParamNames[i])
		}
		x0[i] = math.Log(v)
	}
	// Func and Grad are usually asked at the same point: evaluate both once.
	lastX := make([]float64, d)
	lastG := make([]float64, d)
	lastF := math.NaN()
	evals := 0
	eval := func(x []float64) {
		if !math.IsNaN(lastF) && equal(x, lastX) {
			return
		}
		copy(lastX, x)
		lastF = g(x, lastG)
		evals++
	}
	p := optimize.Problem{
		Func: func(x []float64) float64 { eval(x); return lastF },
		Grad: func(grad, x []float64) { eval(x); copy(grad, lastG) },
		Status: func() (optimize.Status, error) {
			if err := ctx.Err(); err != nil {
				return optimize.Failure, err
			}
			return optimize.NotTerminated, nil
		},
	}
	settings := &optimize.Settings{
		GradientThreshold: 1e-8,
		MajorIterations:   o.MaxIterations,
		// The More-Thuente line search has no evaluation bound of its own: a
		// warm-start fit on the subsample of a 400k-customer summary asked
		// for the same point forever (over 14 CPU-minutes) without this cap
		// (testdata/bgnbd_linesearch_cycle.csv.gz). Hitting it ends the run
		// with FunctionEvaluationLimit, judged by the gradient below.
		FuncEvaluations: 20 * o.MaxIterations,
		Converger:       &optimize.FunctionConverge{Absolute: 1e-13, Relative: 1e-13, Iterations: 20},
	}
	res, err := optimize.Minimize(p, x0, settings, &optimize.BFGS{Linesearcher: &optimize.MoreThuente{}})
	if cerr := ctx.Err(); cerr != nil {
		return nil, fmt.Errorf("fitting %s: %w", rep.Model, cerr)
	}
	xb := x0
	status := "no result"
	if res != nil {
		xb = res.X
		status = res.Status.String()
		rep.Iterations = res.MajorIterations
	}
	if err != nil {
		status += " (" + err.Error() + ")"
	}
	grad := make([]float64, d)
	fv := g(xb, grad)
	rep.Evaluations = evals + 1
	rep.LogLikelihood = -fv * rep.N
	var gn float64
	for _, v := range grad {
		gn = math.Max(gn, math.Abs(v))
	}
	rep.GradNorm = gn
	rep.Converged = true
	switch {
	case math.IsNaN(fv) || math.IsInf(fv, 0):
		rep.Converged = false
		status += "; log-likelihood is not finite at the end point"
	case !(gn <= o.GradTol):
		rep.Converged = false
		status += fmt.Sprintf("; gradient norm %.3g above tolerance %.3g", gn, o.GradTol)
	case res != nil && res.Status == optimize.IterationLimit:
		rep.Converged = false
	}
	var edge []string
	for i, v := range xb {
		if math.Abs(v) >= edgeLog {
			edge = append(edge, fmt.Sprintf("%s=%.3g", rep.ParamNames[i], math.Exp(v)))
		}
	}
	if len(edge) > 0 {
		rep.Converged = false
		status += fmt.Sprintf("; %s ran off towards 0 or ∞: the data do not identify the model (the likelihood keeps rising towards a degenerate limit)", strings.Join(edge, ", "))
	}
	if err != nil && errors.Is(err, context.Canceled) {
		rep.Converged = false
	}
	if rep.Converged && res != nil && res.Status != optimize.GradientThreshold {
		// BFGS often ends in a failed line search once no step can improve
		// the value in floating point; the gradient test above is what counts.
		status = fmt.Sprintf("converged: gradient norm %.2g (optimiser ended with %s)", gn, status)
	}
	rep.Status = status
	return xb, nil
}

func equal(a, b []float64) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// stdErrors fills se with standard errors on the natural scale from the
// central-difference Hessian (of the gradient) of the total negative
// log-likelihood in log-parameters, by the delta method. Entries stay NaN when
// the Hessian is not positive definite.
func stdErrors(g objective, lp []float64, total float64, se []float64) {
	d := len(lp)
	h := mat.NewSymDense(d, nil)
	gp := make([]float64, d)
	gm := make([]float64, d)
	x := append([]float64(nil), lp...)
	const step = 1e-4
	rows := make([][]float64, d)
	for j := 0; j < d; j++ {
		x[j] = lp[j] + step
		g(x, gp)
		x[j] = lp[j] - step
		g(x, gm)
		x[j] = lp[j]
		rows[j] = make([]float64, d)
		for i := 0; i < d; i++ {
			rows[j][i] = (gp[i] - gm[i]) / (2 * step) * total
		}
	}
	for i := 0; i < d; i++ {
		for j := i; j < d; j++ {
			v := (rows[i][j] + rows[j][i]) / 2
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return
			}
			h.SetSym(i, j, v)
		}
	}
	var ch mat.Cholesky
	if !ch.Factorize(h) {
		return
	}
	var cov mat.SymDense
	if err := ch.InverseTo(&cov); err != nil {
		return
	}
	for i := 0; i < d; i++ {
		v := cov.At(i, i)
		if v >= 0 {
			se[i] = math.Exp(lp[i]) * math.Sqrt(v)
		}
	}
}
