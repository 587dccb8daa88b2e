package reports

import (
	"fmt"
	"html"
	"math"
	"strconv"
	"strings"
)

// Series is one line or set of points on a chart.
type Series struct {
	Name   string
	X, Y   []float64
	Dashed bool
	Points bool // draw markers instead of (or as well as) a line
}

// LineChart is an x/y chart of one or more series.
type LineChart struct {
	Title          string
	XLabel, YLabel string
	Series         []Series
	// XMin/XMax/YMin/YMax fix the axes when both ends are set (NaN = automatic).
	XMin, XMax, YMin, YMax float64
}

// palette is colour-blind friendly (Okabe–Ito).
var palette = []string{"#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"}

const (
	chartW, chartH               = 560.0, 360.0
	padL, padR, padT, padB       = 64.0, 16.0, 36.0, 48.0
	plotW                        = chartW - padL - padR
	plotH                        = chartH - padT - padB
	fontAttrs                    = `font-family="Helvetica,Arial,sans-serif"`
	axisColour, gridColour, text = "#333", "#e5e5e5", "#222"
)

// NewLineChart returns a chart with automatic axes.
func NewLineChart(title, xlabel, ylabel string, series ...Series) *LineChart {
	return &LineChart{Title: title, XLabel: xlabel, YLabel: ylabel, Series: series,
		XMin: math.NaN(), XMax: math.NaN(), YMin: math.NaN(), YMax: math.NaN()}
}

// SVG renders the chart as a standalone SVG element.
func (c *LineChart) SVG() string {
	xmin, xmax, ymin, ymax := math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
	for _, s := range c.Series {
		for i := range s.X {
			if isFinite(s.X[i]) && isFinite(s.Y[i]) {
				xmin, xmax = math.Min(xmin, s.X[i]), math.Max(xmax, s.X[i])
				ymin, ymax = math.Min(ymin, s.Y[i]), math.Max(ymax, s.Y[i])
			}
		}
	}
	if !math.IsNaN(c.XMin) && !math.IsNaN(c.XMax) {
		xmin, xmax = c.XMin, c.XMax
	}
	if !math.IsNaN(c.YMin) && !math.IsNaN(c.YMax) {
		ymin, ymax = c.YMin, c.YMax
	}
	xmin, xmax = fixRange(xmin, xmax)
	ymin, ymax = fixRange(ymin, ymax)
	var b strings.Builder
	open(&b, c.Title)
	sx := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*plotW }
	sy := func(y float64) float64 { return padT + plotH - (y-ymin)/(ymax-ymin)*plotH }
	axes(&b, xmin, xmax, ymin, ymax, c.XLabel, c.YLabel)
	for i, s := range c.Series {
		col := palette[i%len(palette)]
		if !s.Points || len(s.X) > 1 && !s.Points {
			var pts []string
			for k := range s.X {
				if isFinite(s.X[k]) && isFinite(s.Y[k]) {
					pts = append(pts, ff(sx(s.X[k]))+","+ff(sy(s.Y[k])))
				}
			}
			dash := ""
			if s.Dashed {
				dash = ` stroke-dasharray="6,4"`
			}
			fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"/>`, col, dash, strings.Join(pts, " "))
		}
		if s.Points {
			for k := range s.X {
				if isFinite(s.X[k]) && isFinite(s.Y[k]) {
					fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="3.5" fill="%s"/>`, ff(sx(s.X[k])), ff(sy(s.Y[k])), col)
				}
			}
		}
	}
	legend(&b, c.Series)
	b.WriteString("</svg>")
	return b.String()
}

// Bar is one bar of a bar chart.
type Bar struct {
	Label string
	Value float64
}

// BarChart draws vertical bars (Horizontal for long labels).
type BarChart struct {
	Title, YLabel string
	Bars          []Bar
	Horizontal    bool
}

// SVG renders the bar chart.
func (c *BarChart) SVG() string {
	var b strings.Builder
	open(&b, c.Title)
	n := len(c.Bars)
	if n == 0 {
		fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="13" fill="%s" text-anchor="middle">no data</text></svg>`, ff(chartW/2), ff(chartH/2), fontAttrs, text)
		return b.String()
	}
	lo, hi := 0.0, math.Inf(-1)
	for _, br := range c.Bars {
		if isFinite(br.Value) {
			hi = math.Max(hi, br.Value)
			lo = math.Min(lo, br.Value)
		}
	}
	lo, hi = fixRange(lo, hi)
	if c.Horizontal {
		left := 180.0
		w := chartW - left - padR - 48
		h := plotH / float64(n)
		for i, br := range c.Bars {
			y := padT + float64(i)*h
			x0 := left + (0-lo)/(hi-lo)*w
			x1 := left + (br.Value-lo)/(hi-lo)*w
			if !isFinite(br.Value) {
				x1 = x0
			}
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, ff(math.Min(x0, x1)), ff(y+h*0.15), ff(math.Abs(x1-x0)), ff(h*0.7), palette[0])
			fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="11" fill="%s" text-anchor="end">%s</text>`, ff(left-6), ff(y+h*0.5+4), fontAttrs, text, esc(trunc(br.Label, 28)))
			fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="10" fill="%s">%s</text>`, ff(math.Max(x0, x1)+4), ff(y+h*0.5+4), fontAttrs, text, esc(short(br.Value)))
		}
		b.WriteString("</svg>")
		return b.String()
	}
	axes(&b, 0, 1, lo, hi, "", c.YLabel)
	w := plotW / float64(n)
	sy := func(v float64) float64 { return padT + plotH - (v-lo)/(hi-lo)*plotH }
	every := 1 + n/10 // label at most ~10 bars
	for i, br := range c.Bars {
		x := padL + float64(i)*w
		y0, y1 := sy(0), sy(br.Value)
		if !isFinite(br.Value) {
			y1 = y0
		}
		fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, ff(x+w*0.1), ff(math.Min(y0, y1)), ff(w*0.8), ff(math.Abs(y1-y0)), barColour(i, n))
		if i%every != 0 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="10" fill="%s" text-anchor="middle">%s</text>`, ff(x+w/2), ff(padT+plotH+14), fontAttrs, text, esc(trunc(br.Label, int(w*float64(every)/6)+1)))
	}
	b.WriteString("</svg>")
	return b.String()
}

// Heatmap draws a matrix of values (NaN cells are blank), e.g. a cohort table.
type Heatmap struct {
	Title          string
	RowLabels      []string
	ColLabels      []string
	Values         [][]float64 // Values[row][col]
	Percent        bool        // label cells as percentages
	XLabel, YLabel string
}

// SVG renders the heatmap.
func (h *Heatmap) SVG() string {
	var b strings.Builder
	open(&b, h.Title)
	rows, cols := len(h.Values), len(h.ColLabels)
	if rows == 0 || cols == 0 {
		b.WriteString("</svg>")
		return b.String()
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, r := range h.Values {
		for _, v := range r {
			if isFinite(v) {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	lo, hi = fixRange(lo, hi)
	left := 80.0
	cw := (chartW - left - padR) / float64(cols)
	ch := plotH / float64(rows)
	for i, r := range h.Values {
		for j, v := range r {
			if j >= cols || !isFinite(v) {
				continue
			}
			t := (v - lo) / (hi - lo)
			fill := blend(t)
			fmt.Fprintf(&b, `<rect x="%s" y="%s" width="%s" height="%s" fill="%s"/>`, ff(left+float64(j)*cw), ff(padT+float64(i)*ch), ff(cw), ff(ch), fill)
			if cw >= 26 && ch >= 12 {
				lab := short(v)
				if h.Percent {
					lab = strconv.FormatFloat(100*v, 'f', 0, 64)
				}
				col := text
				if t > 0.6 {
					col = "#fff"
				}
				fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="9" fill="%s" text-anchor="middle">%s</text>`, ff(left+(float64(j)+0.5)*cw), ff(padT+(float64(i)+0.5)*ch+3), fontAttrs, col, lab)
			}
		}
		if ch >= 9 {
			fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="9" fill="%s" text-anchor="end">%s</text>`, ff(left-4), ff(padT+(float64(i)+0.5)*ch+3), fontAttrs, text, esc(h.RowLabels[i]))
		}
	}
	step := 1
	if cols > 20 {
		step = cols / 10
	}
	for j := 0; j < cols; j += step {
		fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="9" fill="%s" text-anchor="middle">%s</text>`, ff(left+(float64(j)+0.5)*cw), ff(padT+plotH+12), fontAttrs, text, esc(h.ColLabels[j]))
	}
	if h.XLabel != "" {
		fmt.Fprintf(&b, `<text x="%s" y="%s" %s font-size="12" fill="%s" text-anchor="middle">%s</text>`, ff(left+(chartW-left-padR)/2), ff(chartH-10), fontAttrs, text, esc(h.XLabel))
	}
	b.WriteString("</svg>")
	return b.String()
}

func open(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img">`, int(chartW), int(chartH), int(chartW), int(chartH))
	fmt.Fprintf(b, `<rect width="100%%" height="100%%" fill="#fff"/>`)
	fmt.Fprintf(b, `<text x="%s" y="22" %s font-size="15" font-weight="bold" fill="%s" text-anchor="middle">%s</text>`, ff(chartW/2), fontAttrs, text, esc(title))
}

func axes(b *strings.Builder, xmin, xmax, ymin, ymax float64, xlabel, ylabel string) {
	sy := func(y float64) float64 { return padT + plotH - (y-ymin)/(ymax-ymin)*plotH }
	sx := func(x float64) float64 { return padL + (x-xmin)/(xmax-xmin)*plotW }
	for _, t := range ticks(ymin, ymax, 5) {
		y := sy(t)
		fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, ff(padL), ff(y), ff(padL+plotW), ff(y), gridColour)
		fmt.Fprintf(b, `<text x="%s" y="%s" %s font-size="10" fill="%s" text-anchor="end">%s</text>`, ff(padL-6), ff(y+3), fontAttrs, text, short(t))
	}
	if xlabel != "" || xmax != 1 || xmin != 0 {
		for _, t := range ticks(xmin, xmax, 6) {
			x := sx(t)
			fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, ff(x), ff(padT+plotH), ff(x), ff(padT+plotH+4), axisColour)
			fmt.Fprintf(b, `<text x="%s" y="%s" %s font-size="10" fill="%s" text-anchor="middle">%s</text>`, ff(x), ff(padT+plotH+16), fontAttrs, text, short(t))
		}
	}
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, ff(padL), ff(padT+plotH), ff(padL+plotW), ff(padT+plotH), axisColour)
	fmt.Fprintf(b, `<line x1="%s" y1="%s" x2="%s" y2="%s" stroke="%s"/>`, ff(padL), ff(padT), ff(padL), ff(padT+plotH), axisColour)
	if xlabel != "" {
		fmt.Fprintf(b, `<text x="%s" y="%s" %s font-size="12" fill="%s" text-anchor="middle">%s</text>`, ff(padL+plotW/2), ff(chartH-10), fontAttrs, text, esc(xlabel))
	}
	if ylabel != "" {
		fmt.Fprintf(b, `<text x="14" y="%s" %s font-size="12" fill="%s" text-anchor="middle" transform="rotate(-90 14 %s)">%s</text>`, ff(padT+plotH/2), fontAttrs, text, ff(padT+plotH/2), esc(ylabel))
	}
}

func legend(b *strings.Builder, series []Series) {
	if len(series) < 2 {
		return
	}
	for i, s := range series {
		y := padT + plotH - 12 - float64(len(series)-1-i)*16
		col := palette[i%len(palette)]
		fmt.Fprintf(b, `<rect x="%s" y="%s" width="12" height="4" fill="%s"/>`, ff(padL+plotW-150), ff(y-2), col)
		fmt.Fprintf(b, `<text x="%s" y="%s" %s font-size="11" fill="%s">%s</text>`, ff(padL+plotW-132), ff(y+3), fontAttrs, text, esc(trunc(s.Name, 22)))
	}
}

// ticks returns about n round tick values covering [lo, hi].
func ticks(lo, hi float64, n int) []float64 {
	span := hi - lo
	if !(span > 0) || !isFinite(span) {
		return []float64{lo}
	}
	step := math.Pow(10, math.Floor(math.Log10(span/float64(n))))
	for _, m := range []float64{1, 2, 5, 10} {
		if span/(step*m) <= float64(n) {
			step *= m
			break
		}
	}
	var out []float64
	for t := math.Ceil(lo/step) * step; t <= hi+step*1e-9; t += step {
		out = append(out, math.Round(t/step)*step)
	}
	return out
}

func fixRange(lo, hi float64) (float64, float64) {
	if !isFinite(lo) || !isFinite(hi) {
		return 0, 1
	}
	if hi == lo {
		if lo == 0 {
			return 0, 1
		}
		return lo - math.Abs(lo)*0.1, hi + math.Abs(hi)*0.1
	}
	return lo, hi
}

// blend maps t in [0,1] from a pale to a deep blue.
func blend(t float64) string {
	if t < 0 {
		t = 0
	}
	if t > 1 {
		t = 1
	}
	r := int(235 - t*(235-8))
	g := int(244 - t*(244-64))
	bl := int(250 - t*(250-129))
	return fmt.Sprintf("#%02x%02x%02x", r, g, bl)
}

func isFinite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func ff(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// short formats a number for an axis or label.
func short(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	case a >= 1e4:
		return strconv.FormatFloat(v/1e3, 'f', 0, 64) + "k"
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 2, 64)
	}
}

func esc(s string) string { return html.EscapeString(s) }

func trunc(s string, n int) string {
	if n < 4 {
		n = 4
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// barColour gives few bars distinct colours and many bars (a histogram) one.
func barColour(i, n int) string {
	if n > len(palette) {
		return palette[0]
	}
	return palette[i%len(palette)]
}
