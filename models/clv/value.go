package clv

import (
	"context"
	"fmt"
)

// NotConvergedError is returned by FitValueModel when a fit did not converge.
type NotConvergedError struct{ Report *Report }

func (e *NotConvergedError) Error() string {
	return fmt.Sprintf("%s fit did not converge after %d iterations: %s", e.Report.Model, e.Report.Iterations, e.Report.Status)
}

// ValueModel is what the scoring stage uses: BG/NBD for purchases and
// Gamma-Gamma for spend, fitted on one snapshot's customers. It is immutable
// and JSON-serialisable (store it in a model artifact).
type ValueModel struct {
	Purchases BGNBD      `json:"bgnbd"`
	Spend     GammaGamma `json:"gammagamma"`
	// Unit is the time unit of frequency/recency/T, e.g. "day" (documentation
	// for artifact readers; the maths does not use it).
	Unit string `json:"unit"`
	// Reports of the two fits (nil after JSON decoding of older artifacts).
	PurchasesReport *Report `json:"-"`
	SpendReport     *Report `json:"-"`
}

// FitValueModel fits BG/NBD on all customers and Gamma-Gamma on the repeat
// buyers (freq > 0, monetary > 0). freq is the number of repeat purchase
// periods, rec the time from the first to the last purchase, T the time from
// the first purchase to the cutoff, monetary the mean value of the repeat
// purchases (all in one time unit). A fit that does not converge returns a
// *NotConvergedError (with the model anyway); unusable data an *InputError.
func FitValueModel(ctx context.Context, freq, rec, T, monetary []float64, unit string, opt *Options) (*ValueModel, error) {
	b, br, err := FitBGNBD(ctx, freq, rec, T, nil, opt)
	if err != nil {
		return nil, fmt.Errorf("fitting BG/NBD: %w", err)
	}
	g, gr, err := FitGammaGamma(ctx, freq, monetary, nil, opt)
	if err != nil {
		return nil, fmt.Errorf("fitting Gamma-Gamma: %w", err)
	}
	v := &ValueModel{Purchases: b, Spend: g, Unit: unit, PurchasesReport: br, SpendReport: gr}
	if !br.Converged {
		return v, &NotConvergedError{br}
	}
	if !gr.Converged {
		return v, &NotConvergedError{gr}
	}
	return v, nil
}

// ScoreConfig sets the horizons of ValueModel.Score.
type ScoreConfig struct {
	Horizon float64   // expected purchases over this many time units
	CLV     CLVConfig // discounted-CLV convention and horizon
	Workers int       // goroutines; default 1
}

// Score fills dst (see Predictions; nil slices are skipped) for customers
// given as the same slices as FitValueModel. NextPurchase is the median
// offset in time units after the cutoff (T) to the next purchase if alive.
func (v *ValueModel) Score(dst *Predictions, freq, rec, T, monetary []float64, cfg ScoreConfig) error {
	return Predict(dst, v.Purchases, &v.Spend, freq, rec, T, monetary, cfg.Horizon, cfg.CLV, cfg.Workers)
}
