package synth

import (
	"math"
	"math/rand/v2"
)

const secondsPerWeek = 7 * 24 * 3600

// Substreams: each customer draws each part of its history from its own
// PCG stream, so adding or dropping a table never changes the others.
const (
	streamCore = iota + 1 // signup, lambda, p, nu, purchase times, engagement traits
	streamOrders
	streamCustomers
	streamEvents
	streamSubscriptions
	streamTickets
	streamSurveys
	numStreams = streamSurveys
)

// Vocabularies of the categorical columns. Row structs store indexes.
var (
	countries      = []string{"US", "GB", "DE", "FR", "NL", "ES", "CA", "AU"}
	countryWeights = []float64{0.38, 0.16, 0.12, 0.09, 0.06, 0.07, 0.07, 0.05}
	segments       = []string{"consumer", "business"}
	acqChannels    = []string{"organic", "paid_search", "social", "referral", "email"}
	acqWeights     = []float64{0.35, 0.25, 0.18, 0.12, 0.10}
	genders        = []string{"", "F", "M", "X"} // 0 = not recorded (null)
	categories     = []string{"books", "music", "video", "games", "electronics", "home", "toys", "apparel"}
	orderChannels  = []string{"web", "app", "store"}
	eventTypes     = []string{"login", "view", "email_open"}
	eventChannels  = []string{"web", "app", "email"}
	plans          = []string{"basic", "plus", "pro"}
	planMRR        = []float64{9.99, 19.99, 49.99}
	subStatuses    = []string{"active", "cancelled", "downgraded"}
	ticketStatuses = []string{"closed", "open"}
	priorities     = []string{"low", "normal", "high", "urgent"}
)

const numProducts = 2000

type customerRow struct {
	idx                   int32
	signup                int64 // unix seconds
	country, segment, acq uint8
	gender                uint8 // index into genders; 0 = null
	birthYear             int16 // 0 = null
	_                     [2]byte
}

type orderRow struct {
	idx      int32
	seq      int32
	t        int64
	amount   float64
	discount float64
	qty      int32
	product  uint16
	category uint8
	channel  uint8
	returned bool
}

type eventRow struct {
	idx     int32
	typ     uint8
	channel uint8
	t       int64
}

type subscriptionRow struct {
	idx    int32
	seq    int32
	start  int64
	end    int64 // valid when hasEnd
	hasEnd bool
	plan   uint8
	status uint8
	failed int32
	mrr    float64
}

type ticketRow struct {
	idx       int32
	seq       int32
	opened    int64
	closed    int64 // valid when hasClosed
	hasClosed bool
	status    uint8
	priority  uint8
}

type surveyRow struct {
	idx            int32
	t              int64
	nps, csat, ces int8 // -1 = not answered (null)
}

// truthRow is one customer's ground truth.
type truthRow struct {
	idx            int32
	orders         int32
	signup         int64
	lastOrder      int64
	death          int64 // unix seconds of the last purchase when died
	died           bool
	lambda, p, nu  float64 // per-week purchase rate, dropout probability, Gamma-Gamma rate
	eventsPerWeek  float64
	ticketsPerWeek float64
	member         bool
}

// chunk holds the rows of a run of consecutive customers.
type chunk struct {
	customers     []customerRow
	orders        []orderRow
	events        []eventRow
	subscriptions []subscriptionRow
	tickets       []ticketRow
	surveys       []surveyRow
	truth         []truthRow
}

// simulator generates customers; one per goroutine (it owns reusable
// random sources and buffers).
type simulator struct {
	cfg          Config
	startSec     int64
	endSec       int64
	acqSpan      float64 // seconds over which customers sign up
	seeds        [numStreams + 1]uint64
	pcg          [numStreams + 1]*rand.PCG
	rng          [numStreams + 1]*rand.Rand
	purchases    []float64 // weeks since signup
	countryCum   []float64
	acqCum       []float64
	planCum      []float64
	hasEvents    bool
	hasSubs      bool
	hasTickets   bool
	hasSurveys   bool
	maxLoginDrop float64
}

func newSimulator(cfg Config) *simulator {
	s := &simulator{
		cfg:        cfg,
		startSec:   cfg.Start.Unix(),
		endSec:     cfg.End.Unix(),
		countryCum: cumulative(countryWeights),
		acqCum:     cumulative(acqWeights),
		planCum:    cumulative([]float64{0.5, 0.35, 0.15}),
		hasEvents:  cfg.has("events"),
		hasSubs:    cfg.has("subscriptions"),
		hasTickets: cfg.has("tickets"),
		hasSurveys: cfg.has("surveys"),
	}
	s.acqSpan = float64(s.endSec-s.startSec) * cfg.AcquisitionShare
	for k := 1; k <= numStreams; k++ {
		s.seeds[k] = splitmix(cfg.Seed ^ splitmix(uint64(k)*0x9e3779b97f4a7c15))
		s.pcg[k] = rand.NewPCG(0, 0)
		s.rng[k] = rand.New(s.pcg[k])
	}
	return s
}

// splitmix is the SplitMix64 finaliser: a bijective mix of a 64-bit word.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// reseed points every stream at customer i's substream.
func (s *simulator) reseed(i int) {
	for k := 1; k <= numStreams; k++ {
		s.pcg[k].Seed(s.seeds[k], splitmix(uint64(i)^s.seeds[k]))
	}
}

// customer simulates customer i (0-based) and appends its rows to ch.
func (s *simulator) customer(i int, ch *chunk) {
	s.reseed(i)
	cfg := &s.cfg
	idx := int32(i)

	// Core BG/NBD draws: order matters for reproducibility; append new draws at the end.
	core := s.rng[streamCore]
	signup := s.startSec + int64(core.Float64()*s.acqSpan)
	T := float64(s.endSec-signup) / secondsPerWeek
	lambda := gammaRand(core, cfg.R) / cfg.Alpha
	p := betaRand(core, cfg.A, cfg.B)
	nu := gammaRand(core, cfg.Q) / cfg.Gamma
	s.purchases = append(s.purchases[:0], 0)
	died := false
	death := math.Inf(1) // weeks since signup
	if lambda > 0 {
		for t := 0.0; ; {
			t += core.ExpFloat64() / lambda
			if t >= T {
				break
			}
			s.purchases = append(s.purchases, t)
			if core.Float64() < p {
				died, death = true, t
				break
			}
		}
	}
	eventsPerWeek := cfg.EventsPerWeek * gammaRand(core, 2) / 2
	ticketsPerWeek := 0.02 * core.ExpFloat64()
	member := core.Float64() < 0.35

	toSec := func(weeks float64) int64 {
		v := signup + int64(weeks*secondsPerWeek)
		if v >= s.endSec {
			v = s.endSec - 1
		}
		return v
	}
	// ramp is 0 until SignalWeeks before death, then rises linearly to 1 at death.
	W := cfg.SignalWeeks
	ramp := func(t float64) float64 {
		if !died {
			return 0
		}
		x := (t - (death - W)) / W
		return min(max(x, 0), 1)
	}

	tr := truthRow{idx: idx, orders: int32(len(s.purchases)), signup: signup, lastOrder: toSec(s.purchases[len(s.purchases)-1]),
		died: died, lambda: lambda, p: p, nu: nu, eventsPerWeek: eventsPerWeek, ticketsPerWeek: ticketsPerWeek, member: member}
	if died {
		tr.death = toSec(death)
	}
	ch.truth = append(ch.truth, tr)

	// customers
	cr := s.rng[streamCustomers]
	row := customerRow{idx: idx, signup: signup, country: uint8(pick(cr, s.countryCum)), acq: uint8(pick(cr, s.acqCum))}
	if cr.Float64() < 0.2 {
		row.segment = 1
	}
	if cr.Float64() < 0.9 {
		row.gender = uint8(1 + cr.IntN(3))
	}
	if cr.Float64() < 0.9 {
		row.birthYear = int16(1950 + cr.IntN(56))
	}
	ch.customers = append(ch.customers, row)

	// orders: Gamma-Gamma spend
	or := s.rng[streamOrders]
	prefChannel := uint8(pick(or, []float64{0.55, 0.85, 1}))
	for k, t := range s.purchases {
		amount := math.Round(gammaRand(or, cfg.P)/nu*100) / 100
		if amount < 0.01 {
			amount = 0.01
		}
		unit := 8 + 22*or.Float64()
		qty := int32(max(1, math.Round(amount/unit)))
		product := uint16(float64(numProducts) * math.Pow(or.Float64(), 2.5))
		channel := prefChannel
		if or.Float64() < 0.3 {
			channel = uint8(or.IntN(len(orderChannels)))
		}
		discount := 0.0
		if or.Float64() < 0.15 {
			discount = math.Round(amount*(0.05+0.25*or.Float64())*100) / 100
		}
		ch.orders = append(ch.orders, orderRow{idx: idx, seq: int32(k + 1), t: toSec(t), amount: amount, discount: discount, qty: qty,
			product: product, category: uint8(int(product) * len(categories) / numProducts), channel: channel, returned: or.Float64() < cfg.ReturnRate})
	}

	// events: Poisson at eventsPerWeek while alive, thinned by up to 70%×Signal
	// in the SignalWeeks before death; after death only email opens at 10%.
	if s.hasEvents && eventsPerWeek > 0 {
		er := s.rng[streamEvents]
		prefApp := er.Float64() < 0.4
		for t := er.ExpFloat64() / eventsPerWeek; t < T; t += er.ExpFloat64() / eventsPerWeek {
			u := er.Float64()
			typ := uint8(pick(er, []float64{0.6, 0.85, 1}))
			if t > death {
				if u >= 0.1 {
					continue
				}
				typ = 2
			} else if u >= 1-0.7*min(cfg.Signal, 1.4)*ramp(t) {
				continue
			}
			channel := uint8(0)
			switch {
			case typ == 2:
				channel = 2
			case prefApp != (er.Float64() < 0.2):
				channel = 1
			}
			ch.events = append(ch.events, eventRow{idx: idx, t: toSec(t), typ: typ, channel: channel})
		}
	}

	// subscriptions: 35% are members; churners cancel within 4 weeks of
	// death, and with probability 0.5×Signal downgrade 1–6 weeks before it.
	if s.hasSubs && member {
		sr := s.rng[streamSubscriptions]
		start := 2 * sr.ExpFloat64()
		plan := pick(sr, s.planCum)
		cancel := death + 4*sr.Float64()
		downgrade := death - 1 - 5*sr.Float64()
		doDowngrade := died && plan > 0 && sr.Float64() < 0.5*cfg.Signal && downgrade > start
		failedBase := sr.Float64()
		if start < T && start < death {
			seq := int32(1)
			if doDowngrade {
				weeks := downgrade - start
				ch.subscriptions = append(ch.subscriptions, subscriptionRow{idx: idx, seq: seq, start: toSec(start), end: toSec(downgrade), hasEnd: true,
					plan: uint8(plan), status: 2, mrr: planMRR[plan], failed: int32(poisson(sr, 0.01*weeks*(0.5+failedBase)))})
				seq++
				start, plan = downgrade, plan-1
			}
			r := subscriptionRow{idx: idx, seq: seq, start: toSec(start), plan: uint8(plan), mrr: planMRR[plan]}
			end := min(T, cancel)
			r.failed = int32(poisson(sr, 0.01*(end-start)*(0.5+failedBase)))
			if died {
				r.failed += int32(poisson(sr, 1.5*cfg.Signal))
			}
			if cancel < T {
				r.end, r.hasEnd, r.status = toSec(cancel), true, 1
			}
			ch.subscriptions = append(ch.subscriptions, r)
		}
	}

	// tickets: Poisson at ticketsPerWeek while alive, up to ×(1+4×Signal)
	// in the SignalWeeks before death; longer to close and more urgent then.
	if s.hasTickets && ticketsPerWeek > 0 {
		tk := s.rng[streamTickets]
		boost := 1 + 4*cfg.Signal
		maxRate := ticketsPerWeek * boost
		seq := int32(0)
		horizon := min(T, death)
		for t := tk.ExpFloat64() / maxRate; t < horizon; t += tk.ExpFloat64() / maxRate {
			rp := ramp(t)
			if tk.Float64() >= (1+4*cfg.Signal*rp)/boost {
				continue
			}
			seq++
			r := ticketRow{idx: idx, seq: seq, opened: toSec(t)}
			u := tk.Float64()
			switch {
			case u < 0.05+0.10*rp*cfg.Signal:
				r.priority = 3
			case u < 0.20+0.35*rp*cfg.Signal:
				r.priority = 2
			case u < 0.70:
				r.priority = 1
			}
			closeWeeks := t + tk.ExpFloat64()*(2.0/7)*(1+rp*cfg.Signal)
			if closeWeeks < T {
				r.closed, r.hasClosed = toSec(closeWeeks), true
			} else {
				r.status = 1
			}
			ch.tickets = append(ch.tickets, r)
		}
	}

	// surveys: answered about every 12 weeks while alive; NPS falls by up to
	// 4×Signal points in the SignalWeeks before death; CSAT and CES follow.
	if s.hasSurveys {
		sv := s.rng[streamSurveys]
		rate := gammaRand(sv, 1.5) / 1.5 / 12
		base := 7.2 + 1.8*sv.NormFloat64()
		horizon := min(T, death)
		if rate > 0 {
			for t := sv.ExpFloat64() / rate; t < horizon; t += sv.ExpFloat64() / rate {
				nps := clampRound(base-4*cfg.Signal*ramp(t)+sv.NormFloat64(), 0, 10)
				csat := clampRound(1+4*nps/10+0.5*sv.NormFloat64(), 1, 5)
				ces := clampRound(7-0.5*nps+0.7*sv.NormFloat64(), 1, 7)
				r := surveyRow{idx: idx, t: toSec(t), nps: int8(nps), csat: int8(csat), ces: int8(ces)}
				if sv.Float64() < 0.3 {
					r.csat = -1
				}
				if sv.Float64() < 0.3 {
					r.ces = -1
				}
				ch.surveys = append(ch.surveys, r)
			}
		}
	}
}

func clampRound(x, lo, hi float64) float64 { return min(max(math.Round(x), lo), hi) }

func cumulative(w []float64) []float64 {
	out := make([]float64, len(w))
	s := 0.0
	for i, v := range w {
		s += v
		out[i] = s
	}
	for i := range out {
		out[i] /= s
	}
	return out
}

// pick draws an index from cumulative weights.
func pick(r *rand.Rand, cum []float64) int {
	u := r.Float64()
	for i, c := range cum {
		if u < c {
			return i
		}
	}
	return len(cum) - 1
}

// gammaRand draws from Gamma(shape, rate 1) (Marsaglia and Tsang, with the
// u^{1/shape} boost for shape < 1).
func gammaRand(r *rand.Rand, shape float64) float64 {
	if shape < 1 {
		u := r.Float64()
		return gammaRand(r, shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := r.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := r.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// betaRand draws from Beta(a, b).
func betaRand(r *rand.Rand, a, b float64) float64 {
	x := gammaRand(r, a)
	y := gammaRand(r, b)
	if x+y == 0 {
		return 0.5
	}
	return x / (x + y)
}

// poisson draws from Poisson(mean) for small means (Knuth), normal approximation above 30.
func poisson(r *rand.Rand, mean float64) int {
	if mean <= 0 {
		return 0
	}
	if mean > 30 {
		return max(0, int(math.Round(mean+math.Sqrt(mean)*r.NormFloat64())))
	}
	l := math.Exp(-mean)
	k := 0
	for p := r.Float64(); p > l; p *= r.Float64() {
		k++
	}
	return k
}
