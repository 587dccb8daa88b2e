package main

// Owned by the CLV work (issue 5): retain clv fit | predict | holdout | summary.

import (
	"bufio"
	"compress/gzip"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/spf13/cobra"

	"github.com/retainlab/retain/models/clv"
)

// clvInput gathers the flags shared by the clv subcommands.
type clvInput struct {
	transactions, summary                 string
	customerCol, timeCol, amountCol, tfmt string
	calEnd, obsEnd, unit                  string
	survivors                             string
	mergeSameDay                          bool
}

func (in *clvInput) addFlags(cmd *cobra.Command, withSummary bool) {
	f := cmd.Flags()
	f.StringVar(&in.transactions, "transactions", "", "transaction log (CSV with header, or whitespace-separated; .gz ok)")
	f.StringVar(&in.customerCol, "customer-col", "customer_id", "customer id column: a header name, or a 1-based column number for a file without header")
	f.StringVar(&in.timeCol, "time-col", "ordered_at", "transaction time column (name or 1-based number)")
	f.StringVar(&in.amountCol, "amount-col", "", "transaction amount column (name or 1-based number); needed for Gamma-Gamma and CLV")
	f.StringVar(&in.tfmt, "time-format", "", "Go time layout of the time column, e.g. 20060102 (default: ISO dates/times, YYYYMMDD)")
	f.StringVar(&in.calEnd, "calibration-end", "", "last day of the calibration period, YYYY-MM-DD")
	f.StringVar(&in.unit, "unit", "week", "time unit of frequency/recency/T: day, week or month")
	f.BoolVar(&in.mergeSameDay, "merge-same-day", true, "merge a customer's purchases on the same day into one (lifetimes' convention); false counts every row as a transaction (e.g. the orders of retain generate, whose truth is per order)")
	if withSummary {
		f.StringVar(&in.summary, "summary", "", "RFM summary CSV: frequency,recency,T[,monetary_value][,weights] or Hardie's x,t_x,T,zbar (BG/BB: frequency,recency,periods[,weights]; sBG: survivors)")
		f.StringVar(&in.survivors, "survivors", "", "sBG only: comma-separated survivor counts per period, starting with the cohort size")
	}
}

// unitDays maps --unit to days per unit and units per month (as lifetimes).
func unitDays(u string) (days, perMonth float64, err error) {
	switch u {
	case "day":
		return 1, 30, nil
	case "week":
		return 7, 4.345, nil
	case "month":
		return 365.25 / 12, 1, nil
	}
	return 0, 0, usagef("--unit %q: want day, week or month", u)
}

// rfmData is what the fits and predictions consume.
type rfmData struct {
	ids                   []string
	freq, rec, T, mon, w  []float64
	periods               []float64 // BG/BB
	total                 []float64 // historic value when read from transactions
	holdFreq              []float64
	holdDuration          float64
	survivors             []float64
	fromTransactions      bool
	unitDays, unitsPerMon float64
}

func parseDay(s string) (int64, error) {
	d, err := time.Parse("2006-01-02", s)
	if err != nil {
		return 0, usagef("date %q is not YYYY-MM-DD", s)
	}
	return d.Unix() / 86400, nil
}

func (in *clvInput) load(needHoldout bool) (*rfmData, error) {
	ud, upm, err := unitDays(in.unit)
	if err != nil {
		return nil, err
	}
	switch {
	case in.survivors != "":
		d := &rfmData{}
		for i, s := range strings.Split(in.survivors, ",") {
			v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
			if err != nil {
				return nil, usagef("--survivors: value %d %q is not a number", i+1, s)
			}
			d.survivors = append(d.survivors, v)
		}
		return d, nil
	case in.transactions != "" && in.summary != "":
		return nil, usagef("give either --transactions or --summary, not both")
	case in.summary != "":
		if needHoldout {
			return nil, usagef("holdout needs --transactions (the holdout purchases), not --summary")
		}
		d, err := readSummaryCSV(in.summary)
		if err != nil {
			return nil, err
		}
		d.unitDays, d.unitsPerMon = ud, upm
		return d, nil
	case in.transactions != "":
		if in.calEnd == "" {
			return nil, usagef("--transactions needs --calibration-end YYYY-MM-DD")
		}
		ce, err := parseDay(in.calEnd)
		if err != nil {
			return nil, err
		}
		oe := ce
		if in.obsEnd != "" {
			if oe, err = parseDay(in.obsEnd); err != nil {
				return nil, err
			}
			if oe <= ce {
				return nil, usagef("--observation-end %s must be after --calibration-end %s", in.obsEnd, in.calEnd)
			}
		} else if needHoldout {
			return nil, usagef("holdout needs --observation-end YYYY-MM-DD (the end of the holdout)")
		}
		tr, err := readTransactions(in.transactions, in.customerCol, in.timeCol, in.amountCol, in.tfmt)
		if err != nil {
			return nil, err
		}
		s, err := clv.Summarize(tr, clv.SummaryConfig{CalibrationEnd: ce, ObservationEnd: oe, UnitDays: ud, KeepSameDay: !in.mergeSameDay})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", in.transactions, err)
		}
		if len(s.Customer) == 0 {
			return nil, &clv.InputError{Msg: fmt.Sprintf("%s: no customer made a first purchase on or before %s", in.transactions, in.calEnd)}
		}
		d := &rfmData{ids: s.Customer, freq: s.Frequency, rec: s.Recency, T: s.T, total: s.Total,
			holdFreq: s.FrequencyHoldout, holdDuration: s.DurationHoldout, fromTransactions: true, unitDays: ud, unitsPerMon: upm}
		if in.amountCol != "" {
			d.mon = s.Monetary
		}
		return d, nil
	}
	return nil, usagef("give --transactions FILE (with --calibration-end) or --summary FILE")
}

func openMaybeGzip(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &clv.InputError{Msg: fmt.Sprintf("opening %s: %v", path, err)}
	}
	if !strings.HasSuffix(path, ".gz") {
		return f, nil
	}
	z, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, &clv.InputError{Msg: fmt.Sprintf("%s: %v", path, err)}
	}
	return struct {
		io.Reader
		io.Closer
	}{z, f}, nil
}

// tableReader yields records of a CSV (comma in the first line) or a
// whitespace-separated file.
type tableReader struct {
	csv  *csv.Reader
	sc   *bufio.Scanner
	line int
}

func newTableReader(r io.Reader) (*tableReader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	peek, _ := br.Peek(4096)
	first := string(peek)
	if i := strings.IndexByte(first, '\n'); i >= 0 {
		first = first[:i]
	}
	if strings.Contains(first, ",") {
		c := csv.NewReader(br)
		c.ReuseRecord = true
		c.FieldsPerRecord = -1
		return &tableReader{csv: c}, nil
	}
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	return &tableReader{sc: sc}, nil
}

func (t *tableReader) next() ([]string, error) {
	if t.csv != nil {
		rec, err := t.csv.Read()
		if err == nil && len(rec) > 0 {
			t.line, _ = t.csv.FieldPos(0)
		}
		return rec, err
	}
	for t.sc.Scan() {
		t.line++
		f := strings.Fields(t.sc.Text())
		if len(f) > 0 {
			return f, nil
		}
	}
	if err := t.sc.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

var timeLayouts = []string{"2006-01-02", time.RFC3339Nano, "2006-01-02 15:04:05", "2006-01-02T15:04:05", "2006-01-02 15:04", "20060102", "2006/01/02", "1/2/2006 15:04", "1/2/2006"}

// readTransactions reads customer, day and amount columns. Columns are header
// names, or 1-based numbers when every given column is a number (then the
// file has no header).
func readTransactions(path, custCol, timeCol, amtCol, layout string) (clv.Transactions, error) {
	var tr clv.Transactions
	rc, err := openMaybeGzip(path)
	if err != nil {
		return tr, err
	}
	defer rc.Close()
	r, err := newTableReader(rc)
	if err != nil {
		return tr, err
	}
	cols := []string{custCol, timeCol}
	if amtCol != "" {
		cols = append(cols, amtCol)
	}
	idx := make([]int, len(cols))
	numeric := true
	for i, c := range cols {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			numeric = false
			break
		}
		idx[i] = n - 1
	}
	if !numeric {
		hdr, err := r.next()
		if err != nil {
			return tr, &clv.InputError{Msg: fmt.Sprintf("%s: reading the header: %v", path, err)}
		}
		pos := map[string]int{}
		for i, h := range hdr {
			pos[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
		}
		for i, c := range cols {
			p, ok := pos[c]
			if !ok {
				return tr, &clv.InputError{Msg: fmt.Sprintf("%s: no column %q in the header (columns: %s)", path, c, strings.Join(hdr, ", "))}
			}
			idx[i] = p
		}
	}
	layouts := timeLayouts
	if layout != "" {
		layouts = []string{layout}
	}
	li := 0
	for {
		rec, err := r.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return tr, &clv.InputError{Msg: fmt.Sprintf("%s: %v", path, err)}
		}
		for k, j := range idx {
			if j >= len(rec) {
				return tr, &clv.InputError{Msg: fmt.Sprintf("%s line %d: no column %s (the row has %d fields)", path, r.line, cols[k], len(rec))}
			}
		}
		ts := strings.TrimSpace(rec[idx[1]])
		var d time.Time
		ok := false
		for k := 0; k < len(layouts); k++ {
			l := layouts[(li+k)%len(layouts)]
			if t, err := time.Parse(l, ts); err == nil {
				d, ok, li = t, true, (li+k)%len(layouts)
				break
			}
		}
		if !ok {
			return tr, &clv.InputError{Msg: fmt.Sprintf("%s line %d column %s: %q is not a time (layout %s; set --time-format)", path, r.line, cols[1], ts, strings.Join(layouts, " | "))}
		}
		day := d.UTC().Unix()
		if day < 0 {
			day -= 86399
		}
		tr.Customer = append(tr.Customer, strings.TrimSpace(rec[idx[0]]))
		tr.Day = append(tr.Day, day/86400)
		if amtCol != "" {
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[idx[2]]), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return tr, &clv.InputError{Msg: fmt.Sprintf("%s line %d column %s: %q is not a number", path, r.line, cols[2], rec[idx[2]])}
			}
			tr.Amount = append(tr.Amount, v)
		}
	}
	if len(tr.Customer) == 0 {
		return tr, &clv.InputError{Msg: fmt.Sprintf("%s: no transactions", path)}
	}
	return tr, nil
}

// readSummaryCSV reads an RFM summary with lifetimes' or Hardie's names.
func readSummaryCSV(path string) (*rfmData, error) {
	rc, err := openMaybeGzip(path)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r := csv.NewReader(rc)
	r.FieldsPerRecord = -1
	hdr, err := r.Read()
	if err != nil {
		return nil, &clv.InputError{Msg: fmt.Sprintf("%s: reading the header: %v", path, err)}
	}
	pos := map[string]int{}
	for i, h := range hdr {
		pos[strings.TrimSpace(strings.TrimPrefix(h, "\ufeff"))] = i
	}
	find := func(names ...string) int {
		for _, n := range names {
			if p, ok := pos[n]; ok {
				return p
			}
		}
		return -1
	}
	cF, cR, cT := find("frequency", "x"), find("recency", "t_x"), find("T", "periods", "n")
	cM, cW, cID := find("monetary_value", "zbar", "monetary"), find("weights", "weight", "count"), find("customer_id", "ID", "id")
	cS := find("survivors", "alive")
	d := &rfmData{}
	if cS >= 0 {
		for line := 2; ; line++ {
			rec, err := r.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, &clv.InputError{Msg: fmt.Sprintf("%s: %v", path, err)}
			}
			if cS >= len(rec) {
				return nil, &clv.InputError{Msg: fmt.Sprintf("%s line %d: missing column %s", path, line, hdr[cS])}
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[cS]), 64)
			if err != nil {
				return nil, &clv.InputError{Msg: fmt.Sprintf("%s line %d column %s: %q is not a number", path, line, hdr[cS], rec[cS])}
			}
			d.survivors = append(d.survivors, v)
		}
		return d, nil
	}
	if cF < 0 || cR < 0 || cT < 0 {
		return nil, &clv.InputError{Msg: fmt.Sprintf("%s: need columns frequency,recency,T (or x,t_x,T; BG/BB: frequency,recency,periods), found %s", path, strings.Join(hdr, ","))}
	}
	isPeriods := find("T") < 0
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &clv.InputError{Msg: fmt.Sprintf("%s: %v", path, err)}
		}
		get := func(c int) (float64, error) {
			if c >= len(rec) {
				return 0, &clv.InputError{Msg: fmt.Sprintf("%s line %d: missing column %s", path, line, hdr[c])}
			}
			v, err := strconv.ParseFloat(strings.TrimSpace(rec[c]), 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				return 0, &clv.InputError{Msg: fmt.Sprintf("%s line %d column %s: %q is not a number", path, line, hdr[c], rec[c])}
			}
			return v, nil
		}
		var vals [5]float64
		for k, c := range []int{cF, cR, cT, cM, cW} {
			if c < 0 {
				continue
			}
			if vals[k], err = get(c); err != nil {
				return nil, err
			}
		}
		d.freq = append(d.freq, vals[0])
		d.rec = append(d.rec, vals[1])
		if isPeriods {
			d.periods = append(d.periods, vals[2])
		} else {
			d.T = append(d.T, vals[2])
		}
		if cM >= 0 {
			d.mon = append(d.mon, vals[3])
		}
		if cW >= 0 {
			d.w = append(d.w, vals[4])
		}
		if cID >= 0 && cID < len(rec) {
			d.ids = append(d.ids, rec[cID])
		} else {
			d.ids = append(d.ids, strconv.Itoa(line-1))
		}
	}
	if len(d.freq) == 0 {
		return nil, &clv.InputError{Msg: fmt.Sprintf("%s: no rows", path)}
	}
	return d, nil
}

// fitResult is the --json object of `retain clv fit`.
type fitResult struct {
	Model         string              `json:"model"`
	Params        map[string]float64  `json:"params"`
	StdErrors     map[string]*float64 `json:"std_errors"`
	LogLikelihood float64             `json:"log_likelihood"`
	N             float64             `json:"n"`
	Rows          int                 `json:"rows"`
	Converged     bool                `json:"converged"`
	Iterations    int                 `json:"iterations"`
	Evaluations   int                 `json:"evaluations"`
	GradNorm      float64             `json:"grad_norm"`
	Status        string              `json:"status"`
	Seconds       float64             `json:"seconds"`
	Unit          string              `json:"unit,omitempty"`
	// sBG: projected survivors per 1,000 for periods 0 … observed+5
	Survival []float64 `json:"projected_survival,omitempty"`
	// Gamma-Gamma: population mean spend p·γ/(q−1)
	MeanSpend *float64 `json:"mean_spend,omitempty"`
}

func toFitResult(rep *clv.Report, unit string) fitResult {
	f := fitResult{Model: rep.Model, Params: map[string]float64{}, StdErrors: map[string]*float64{},
		LogLikelihood: rep.LogLikelihood, N: rep.N, Rows: rep.Rows, Converged: rep.Converged,
		Iterations: rep.Iterations, Evaluations: rep.Evaluations, GradNorm: rep.GradNorm, Status: rep.Status,
		Seconds: rep.Elapsed.Seconds(), Unit: unit}
	for i, n := range rep.ParamNames {
		f.Params[n] = rep.Params[i]
		if se := rep.StdErr[i]; !math.IsNaN(se) && !math.IsInf(se, 0) {
			v := se
			f.StdErrors[n] = &v
		} else {
			f.StdErrors[n] = nil
		}
	}
	return f
}

// fitted holds whichever models a fit produced.
type fitted struct {
	rep      *clv.Report
	purchase clv.PurchaseModel
	gg       *clv.GammaGamma
	ggRep    *clv.Report
	sbg      *clv.SBG
}

var purchaseModels = map[string]bool{"bgnbd": true, "paretonbd": true, "mbgnbd": true}

func fitModel(cmd *cobra.Command, model string, d *rfmData, opt *clv.Options) (*fitted, error) {
	ctx := cmd.Context()
	f := &fitted{}
	var err error
	needRFM := func() error {
		if d.T == nil {
			return usagef("%s needs frequency, recency and T", model)
		}
		return nil
	}
	switch model {
	case "bgnbd":
		if err = needRFM(); err != nil {
			return nil, err
		}
		var m clv.BGNBD
		m, f.rep, err = clv.FitBGNBD(ctx, d.freq, d.rec, d.T, d.w, opt)
		f.purchase = m
	case "mbgnbd":
		if err = needRFM(); err != nil {
			return nil, err
		}
		var m clv.MBGNBD
		m, f.rep, err = clv.FitMBGNBD(ctx, d.freq, d.rec, d.T, d.w, opt)
		f.purchase = m
	case "paretonbd":
		if err = needRFM(); err != nil {
			return nil, err
		}
		var m clv.ParetoNBD
		m, f.rep, err = clv.FitParetoNBD(ctx, d.freq, d.rec, d.T, d.w, opt)
		f.purchase = m
	case "gammagamma":
		if d.mon == nil {
			return nil, usagef("gammagamma needs monetary values: a monetary_value/zbar column, or --amount-col with --transactions")
		}
		var m clv.GammaGamma
		m, f.rep, err = clv.FitGammaGamma(ctx, d.freq, d.mon, d.w, opt)
		f.gg = &m
	case "bgbb":
		if d.periods == nil {
			return nil, usagef("bgbb needs a --summary with columns frequency,recency,periods[,weights]")
		}
		_, f.rep, err = clv.FitBGBB(ctx, d.freq, d.rec, d.periods, d.w, opt)
	case "sbg":
		if d.survivors == nil {
			return nil, usagef("sbg needs --survivors N0,N1,… or a --summary with a survivors column")
		}
		var m clv.SBG
		m, f.rep, err = clv.FitSBG(ctx, d.survivors, opt)
		f.sbg = &m
	default:
		return nil, usagef("--model %q: want bgnbd, paretonbd, mbgnbd, gammagamma, bgbb or sbg", model)
	}
	if err != nil {
		return nil, err
	}
	return f, nil
}

var errNotConverged = errors.New("fit did not converge (pass --allow-nonconverged to accept it)")

func newCLVCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "clv",
		Short: "Customer-lifetime-value models: BG/NBD, Pareto/NBD, MBG/NBD, Gamma-Gamma, BG/BB, sBG",
	}
	cmd.AddCommand(newCLVFitCmd(), newCLVPredictCmd(), newCLVHoldoutCmd(), newCLVSummaryCmd())
	return cmd
}

type fitFlags struct {
	model     string
	allowNC   bool
	penalizer float64
	maxIter   int
	asJSON    bool
	workers   int
}

func (ff *fitFlags) add(cmd *cobra.Command, defModel string) {
	f := cmd.Flags()
	f.StringVar(&ff.model, "model", defModel, "bgnbd, paretonbd, mbgnbd, gammagamma, bgbb or sbg")
	f.BoolVar(&ff.allowNC, "allow-nonconverged", false, "exit 0 even when the fit did not converge")
	f.Float64Var(&ff.penalizer, "penalizer", 0, "L2 penalty coefficient on the parameters (0 = plain maximum likelihood)")
	f.IntVar(&ff.maxIter, "max-iterations", 1000, "optimiser iteration limit")
	f.IntVar(&ff.workers, "workers", runtime.GOMAXPROCS(0), "goroutines evaluating the likelihood")
	f.BoolVar(&ff.asJSON, "json", false, "print one JSON summary object on stdout")
}

func (ff *fitFlags) options() *clv.Options {
	return &clv.Options{Penalizer: ff.penalizer, MaxIterations: ff.maxIter, Workers: ff.workers}
}

func newCLVFitCmd() *cobra.Command {
	var in clvInput
	var ff fitFlags
	cmd := &cobra.Command{
		Use:   "fit --model M (--transactions FILE --calibration-end DATE | --summary FILE) [--json]",
		Short: "Fit a CLV model by maximum likelihood and print its parameters",
		RunE: func(cmd *cobra.Command, _ []string) error {
			pr := newProgress()
			d, err := in.load(false)
			if err != nil {
				return err
			}
			pr.Printf("clv fit: %s on %d rows", ff.model, max(len(d.freq), len(d.survivors)))
			f, err := fitModel(cmd, ff.model, d, ff.options())
			if err != nil {
				return err
			}
			res := toFitResult(f.rep, in.unit)
			if f.sbg != nil {
				res.Unit = ""
				for t := 0; t < len(d.survivors)+5; t++ {
					res.Survival = append(res.Survival, 1000*f.sbg.Survival(float64(t)))
				}
			}
			if f.gg != nil {
				if s := f.gg.ExpectedSpend(0, 0); !math.IsInf(s, 0) {
					res.MeanSpend = &s
				}
			}
			if ff.asJSON {
				if err := printJSON(cmd.OutOrStdout(), res); err != nil {
					return err
				}
			} else {
				printFit(cmd.OutOrStdout(), res, f.rep.ParamNames)
			}
			if !res.Converged && !ff.allowNC {
				return fmt.Errorf("%s: %w: %s", ff.model, errNotConverged, res.Status)
			}
			return nil
		},
	}
	in.addFlags(cmd, true)
	ff.add(cmd, "bgnbd")
	return cmd
}

func printFit(w io.Writer, r fitResult, names []string) {
	fmt.Fprintf(w, "%s on %g customers (%d distinct rows): log-likelihood %.4f, converged %v after %d iterations (%s)\n",
		r.Model, r.N, r.Rows, r.LogLikelihood, r.Converged, r.Iterations, r.Status)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "param\testimate\tstd error")
	for _, n := range names {
		se := "n/a"
		if p := r.StdErrors[n]; p != nil {
			se = fmt.Sprintf("%.4f", *p)
		}
		fmt.Fprintf(tw, "%s\t%.4f\t%s\n", n, r.Params[n], se)
	}
	tw.Flush()
	if r.MeanSpend != nil {
		fmt.Fprintf(w, "population mean spend p·γ/(q−1): %.4f\n", *r.MeanSpend)
	}
	if r.Survival != nil {
		fmt.Fprintf(w, "survivors per 1,000 by period (fitted/projected):")
		for _, s := range r.Survival {
			fmt.Fprintf(w, " %.0f", s)
		}
		fmt.Fprintln(w)
	}
}

// predictRow is one output row of `retain clv predict`.
type predictRow struct {
	CustomerID        string  `parquet:"customer_id" json:"customer_id"`
	Frequency         float64 `parquet:"frequency" json:"frequency"`
	Recency           float64 `parquet:"recency" json:"recency"`
	T                 float64 `parquet:"T" json:"T"`
	MonetaryValue     float64 `parquet:"monetary_value" json:"monetary_value"`
	PAlive            float64 `parquet:"p_alive" json:"p_alive"`
	ExpectedPurchases float64 `parquet:"expected_purchases" json:"expected_purchases"`
	NextPurchase      float64 `parquet:"next_purchase" json:"next_purchase"`
	ExpectedSpend     float64 `parquet:"expected_spend" json:"expected_spend"`
	CLV               float64 `parquet:"clv" json:"clv"`
	HistoricCLV       float64 `parquet:"historic_clv" json:"historic_clv"`
}

func newCLVPredictCmd() *cobra.Command {
	var in clvInput
	var ff fitFlags
	var out string
	var horizon, discount float64
	var months int
	var continuous bool
	cmd := &cobra.Command{
		Use:   "predict --model bgnbd|paretonbd|mbgnbd (--transactions FILE … | --summary FILE) --out FILE.parquet|.csv",
		Short: "Fit, then write per-customer P(alive), expected purchases, next purchase, expected spend and CLV",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !purchaseModels[ff.model] {
				return usagef("predict: --model %q: want bgnbd, paretonbd or mbgnbd", ff.model)
			}
			if out == "" {
				return usagef("predict: --out FILE.parquet or FILE.csv is required")
			}
			if !strings.HasSuffix(out, ".parquet") && !strings.HasSuffix(out, ".csv") {
				return usagef("predict: --out %s: want a .parquet or .csv file", out)
			}
			pr := newProgress()
			d, err := in.load(false)
			if err != nil {
				return err
			}
			if d.T == nil {
				return usagef("predict needs frequency, recency and T")
			}
			f, err := fitModel(cmd, ff.model, d, ff.options())
			if err != nil {
				return err
			}
			if !f.rep.Converged && !ff.allowNC {
				return fmt.Errorf("%s: %w: %s", ff.model, errNotConverged, f.rep.Status)
			}
			res := map[string]any{"model": fitSummaryJSON(f.rep, in.unit)}
			if d.mon != nil {
				g, rep, err := clv.FitGammaGamma(cmd.Context(), d.freq, d.mon, d.w, ff.options())
				if err != nil {
					return err
				}
				if !rep.Converged && !ff.allowNC {
					return fmt.Errorf("gammagamma: %w: %s", errNotConverged, rep.Status)
				}
				f.gg = &g
				res["spend_model"] = fitSummaryJSON(rep, "")
			}
			n := len(d.freq)
			p := clv.Predictions{PAlive: make([]float64, n), ExpectedPurchases: make([]float64, n), NextPurchase: make([]float64, n)}
			if f.gg != nil {
				p.ExpectedSpend, p.CLV = make([]float64, n), make([]float64, n)
			}
			cc := clv.CLVConfig{Months: months, UnitsPerMonth: d.unitsPerMon, DiscountRate: discount, Continuous: continuous}
			if err := cc.Validate(); err != nil {
				return usagef("%v", err)
			}
			start := time.Now()
			if err := clv.Predict(&p, f.purchase, f.gg, d.freq, d.rec, d.T, d.mon, horizon, cc, ff.workers); err != nil {
				return err
			}
			pr.Printf("clv predict: %d customers in %s", n, time.Since(start).Round(time.Millisecond))
			rows := make([]predictRow, n)
			var sumE, sumP float64
			for i := range rows {
				r := &rows[i]
				r.CustomerID, r.Frequency, r.Recency, r.T = d.ids[i], d.freq[i], d.rec[i], d.T[i]
				r.PAlive, r.ExpectedPurchases, r.NextPurchase = p.PAlive[i], p.ExpectedPurchases[i], p.NextPurchase[i]
				if f.gg != nil {
					r.MonetaryValue, r.ExpectedSpend, r.CLV = d.mon[i], p.ExpectedSpend[i], p.CLV[i]
					if d.total != nil {
						r.HistoricCLV = d.total[i]
					} else {
						r.HistoricCLV = d.freq[i] * d.mon[i]
					}
				}
				sumE += r.ExpectedPurchases
				sumP += r.PAlive
			}
			if err := writePredictions(out, rows); err != nil {
				return err
			}
			res["out"] = out
			res["customers"] = n
			res["horizon"] = horizon
			res["expected_purchases_total"] = sumE
			res["mean_p_alive"] = sumP / float64(n)
			if p.CLV != nil {
				res["customer_equity"] = clv.CustomerEquity(p.CLV)
				conv := "discrete monthly (end of month)"
				if continuous {
					conv = "continuous"
				}
				res["clv_convention"] = fmt.Sprintf("%s, %d months, %.4g per month", conv, cc.Months, discount)
			}
			if ff.asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "wrote %s: %d customers; expected purchases in the next %g %ss: %.1f; mean P(alive) %.3f\n", out, n, horizon, in.unit, sumE, sumP/float64(n))
			if v, ok := res["customer_equity"]; ok {
				fmt.Fprintf(w, "customer equity (%s): %.2f\n", res["clv_convention"], v)
			}
			return nil
		},
	}
	in.addFlags(cmd, true)
	ff.add(cmd, "bgnbd")
	f := cmd.Flags()
	f.StringVar(&out, "out", "", "output file, .parquet or .csv")
	f.Float64Var(&horizon, "horizon", 39, "horizon of expected purchases, in --unit units")
	f.IntVar(&months, "clv-months", 12, "CLV horizon in months")
	f.Float64Var(&discount, "discount", 0.01, "monthly discount rate for CLV")
	f.BoolVar(&continuous, "continuous", false, "discount continuously instead of at the end of each month")
	return cmd
}

func fitSummaryJSON(rep *clv.Report, unit string) fitResult { return toFitResult(rep, unit) }

func writePredictions(path string, rows []predictRow) error {
	tmp := path + ".tmp"
	if strings.HasSuffix(path, ".parquet") {
		if err := parquet.WriteFile(tmp, rows); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	} else {
		f, err := os.Create(tmp)
		if err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
		bw := bufio.NewWriterSize(f, 1<<20)
		fmt.Fprintln(bw, "customer_id,frequency,recency,T,monetary_value,p_alive,expected_purchases,next_purchase,expected_spend,clv,historic_clv")
		g := func(v float64) string { return strconv.FormatFloat(v, 'g', 10, 64) }
		for _, r := range rows {
			fmt.Fprintf(bw, "%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n", csvQuote(r.CustomerID), g(r.Frequency), g(r.Recency), g(r.T), g(r.MonetaryValue),
				g(r.PAlive), g(r.ExpectedPurchases), g(r.NextPurchase), g(r.ExpectedSpend), g(r.CLV), g(r.HistoricCLV))
		}
		if err := bw.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

func csvQuote(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

// holdoutRow is one calibration-frequency bucket of `retain clv holdout`.
type holdoutRow struct {
	Frequency string  `json:"frequency"`
	Customers int     `json:"customers"`
	Actual    float64 `json:"actual_mean"`
	Predicted float64 `json:"predicted_mean"`
}

func newCLVHoldoutCmd() *cobra.Command {
	var in clvInput
	var ff fitFlags
	var maxBucket int
	cmd := &cobra.Command{
		Use:   "holdout --model bgnbd|paretonbd|mbgnbd --transactions FILE --calibration-end DATE --observation-end DATE",
		Short: "Fit on the calibration period and compare predicted with actual purchases in the holdout",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !purchaseModels[ff.model] {
				return usagef("holdout: --model %q: want bgnbd, paretonbd or mbgnbd", ff.model)
			}
			d, err := in.load(true)
			if err != nil {
				return err
			}
			f, err := fitModel(cmd, ff.model, d, ff.options())
			if err != nil {
				return err
			}
			if !f.rep.Converged && !ff.allowNC {
				return fmt.Errorf("%s: %w: %s", ff.model, errNotConverged, f.rep.Status)
			}
			n := len(d.freq)
			pred := make([]float64, n)
			if err := clv.Predict(&clv.Predictions{ExpectedPurchases: pred}, f.purchase, nil, d.freq, d.rec, d.T, nil, d.holdDuration, clv.CLVConfig{}, ff.workers); err != nil {
				return err
			}
			var sp, sa, mae float64
			buckets := make([]holdoutRow, maxBucket+1)
			for i := range buckets {
				buckets[i].Frequency = strconv.Itoa(i)
			}
			buckets[maxBucket].Frequency += "+"
			for i := 0; i < n; i++ {
				sp += pred[i]
				sa += d.holdFreq[i]
				mae += math.Abs(pred[i] - d.holdFreq[i])
				b := min(int(d.freq[i]), maxBucket)
				buckets[b].Customers++
				buckets[b].Actual += d.holdFreq[i]
				buckets[b].Predicted += pred[i]
			}
			for i := range buckets {
				if c := float64(buckets[i].Customers); c > 0 {
					buckets[i].Actual /= c
					buckets[i].Predicted /= c
				}
			}
			res := map[string]any{
				"model": toFitResult(f.rep, in.unit), "customers": n, "holdout_duration": d.holdDuration, "unit": in.unit,
				"predicted_total": sp, "actual_total": sa, "mae": mae / float64(n), "correlation": pearson(pred, d.holdFreq),
				"by_frequency": buckets,
			}
			if ff.asJSON {
				return printJSON(cmd.OutOrStdout(), res)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "%s fitted on %d customers; holdout of %.4g %ss\n", ff.model, n, d.holdDuration, in.unit)
			fmt.Fprintf(w, "repeat purchases in the holdout: predicted %.1f, actual %.0f; MAE per customer %.4f; correlation %.4f\n", sp, sa, mae/float64(n), res["correlation"])
			tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "calibration frequency\tcustomers\tactual mean\tpredicted mean\t")
			for _, b := range buckets {
				fmt.Fprintf(tw, "%s\t%d\t%.3f\t%.3f\t\n", b.Frequency, b.Customers, b.Actual, b.Predicted)
			}
			return tw.Flush()
		},
	}
	in.addFlags(cmd, false)
	ff.add(cmd, "bgnbd")
	cmd.Flags().StringVar(&in.obsEnd, "observation-end", "", "last day of the holdout period, YYYY-MM-DD")
	cmd.Flags().IntVar(&maxBucket, "max-frequency", 7, "calibration frequencies at or above this share the last row of the table")
	return cmd
}

func pearson(a, b []float64) float64 {
	n := float64(len(a))
	var ma, mb float64
	for i := range a {
		ma += a[i]
		mb += b[i]
	}
	ma /= n
	mb /= n
	var sab, saa, sbb float64
	for i := range a {
		sab += (a[i] - ma) * (b[i] - mb)
		saa += (a[i] - ma) * (a[i] - ma)
		sbb += (b[i] - mb) * (b[i] - mb)
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

func newCLVSummaryCmd() *cobra.Command {
	var in clvInput
	var out string
	var decimals int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "summary --transactions FILE --calibration-end DATE [--observation-end DATE] --unit day|week|month [--out FILE.csv]",
		Short: "Per-customer frequency, recency, T and monetary value (and holdout purchases) from a transaction log",
		RunE: func(cmd *cobra.Command, _ []string) error {
			if in.transactions == "" {
				return usagef("summary: --transactions FILE is required")
			}
			d, err := in.load(false)
			if err != nil {
				return err
			}
			var w io.Writer = cmd.OutOrStdout()
			var file *os.File
			if out != "" {
				if file, err = os.Create(out + ".tmp"); err != nil {
					return fmt.Errorf("summary: %w", err)
				}
				defer file.Close()
				w = file
			} else if asJSON {
				return usagef("summary: --json needs --out FILE.csv (stdout carries the JSON object)")
			}
			bw := bufio.NewWriterSize(w, 1<<20)
			g := func(v float64) string {
				if decimals >= 0 {
					p := math.Pow(10, float64(decimals))
					v = math.Round(v*p*(1+1e-12)) / p // half-up, robust to binary representation
					return strconv.FormatFloat(v, 'f', decimals, 64)
				}
				return strconv.FormatFloat(v, 'g', -1, 64)
			}
			hdr := "customer_id,frequency,recency,T"
			if d.mon != nil {
				hdr += ",monetary_value,total_value"
			}
			if d.holdFreq != nil {
				hdr += ",frequency_holdout,duration_holdout"
			}
			fmt.Fprintln(bw, hdr)
			var repeat, hold float64
			for i := range d.freq {
				fmt.Fprintf(bw, "%s,%s,%s,%s", csvQuote(d.ids[i]), g(d.freq[i]), g(d.rec[i]), g(d.T[i]))
				if d.mon != nil {
					fmt.Fprintf(bw, ",%s,%s", g(d.mon[i]), g(d.total[i]))
				}
				if d.holdFreq != nil {
					fmt.Fprintf(bw, ",%s,%s", g(d.holdFreq[i]), g(d.holdDuration))
					hold += d.holdFreq[i]
				}
				fmt.Fprintln(bw)
				repeat += d.freq[i]
			}
			if err := bw.Flush(); err != nil {
				return fmt.Errorf("summary: writing: %w", err)
			}
			if file != nil {
				if err := file.Sync(); err != nil {
					return fmt.Errorf("summary: %w", err)
				}
				if err := file.Close(); err != nil {
					return fmt.Errorf("summary: %w", err)
				}
				if err := os.Rename(out+".tmp", out); err != nil {
					return fmt.Errorf("summary: %w", err)
				}
				newProgress().Printf("clv summary: %d customers → %s", len(d.freq), out)
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), map[string]any{"out": out, "customers": len(d.freq), "repeat_purchases": repeat,
					"holdout_purchases": hold, "unit": in.unit})
			}
			return nil
		},
	}
	in.addFlags(cmd, false)
	cmd.Flags().StringVar(&in.obsEnd, "observation-end", "", "last day of the holdout period, YYYY-MM-DD (adds holdout columns)")
	cmd.Flags().StringVar(&out, "out", "", "write the CSV here (default stdout)")
	cmd.Flags().IntVar(&decimals, "decimals", -1, "round values half-up to this many decimals (default: full precision)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON summary object on stdout (needs --out)")
	return cmd
}
