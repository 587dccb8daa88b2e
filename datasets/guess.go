package datasets

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Guess is a starting config written by `retain init`: the YAML and what
// was guessed, column by column.
type Guess struct {
	YAML     string        `json:"yaml"`
	Table    Table         `json:"table"`
	Guesses  []GuessedRole `json:"guesses"`
	Unmapped []string      `json:"unmapped"`
}

// GuessedRole is one canonical column and the source column (or expression)
// it was guessed from, with the reason.
type GuessedRole struct {
	Canonical string `json:"canonical"`
	Source    string `json:"source"`
	Why       string `json:"why"`
}

var errStopSample = errors.New("sample complete")

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

func norm(s string) string { return nonAlnum.ReplaceAllString(strings.ToLower(s), "") }

// GuessConfig reads the header and a sample of a CSV file and guesses a
// source config for it. outPath is where the config will be written (the
// data path is made relative to it). table "" means orders.
func GuessConfig(ctx context.Context, csvPath, outPath string, table Table) (*Guess, error) {
	if table == "" {
		table = Orders
	}
	if _, ok := Specs[table]; !ok {
		return nil, &InputError{Msg: fmt.Sprintf("--table %q is not a canonical table", table)}
	}
	first, err := firstLine(csvPath)
	if err != nil {
		return nil, err
	}
	src := &Source{Format: "csv", Path: csvPath}
	switch {
	case strings.Count(first, ",") > 0:
	case strings.Count(first, ";") > 0:
		src.Delimiter = ";"
	case strings.Count(first, "\t") > 0:
		src.Delimiter = "tab"
	case len(strings.Fields(first)) > 1:
		src.Delimiter = "whitespace"
	}
	d, _ := delimiterByte(src.Delimiter)
	fields, _, _ := splitRecord([]byte(strings.TrimRight(first, "\r")), d, nil, nil)
	header := true
	numeric := 0
	for _, f := range fields {
		if _, err := strconv.ParseFloat(strings.TrimSpace(string(f)), 64); err == nil {
			numeric++
		}
	}
	if numeric > 0 && numeric*2 >= len(fields) {
		header = false
		src.Header = &header
	}
	rd, err := openCSV(csvPath, csvPath, src, &quarantine{})
	if err != nil {
		return nil, err
	}
	defer rd.close()
	cols := rd.columns()
	all := make([]int, len(cols))
	for i := range all {
		all[i] = i
	}
	var sample *rawBatch
	err = rd.run(ctx, all, func(_ int, b *rawBatch) error {
		if sample == nil {
			cp := &rawBatch{n: b.n, line: append([]int64(nil), b.line...), cols: make([]rawCol, len(b.cols))}
			for i := range b.cols {
				cp.cols[i] = rawCol{kind: rawText, buf: append([]byte(nil), b.cols[i].buf...), end: append([]int32(nil), b.cols[i].end...)}
			}
			sample = cp
		}
		return errStopSample
	})
	if err != nil && !errors.Is(err, errStopSample) {
		return nil, err
	}
	if sample == nil {
		return nil, &InputError{File: csvPath, Msg: "no data rows to guess from"}
	}
	n := min(sample.n, 2000)
	type prof struct {
		name              string
		n                 string
		empty, nums, negs int
		ints              bool
		cPrefix           int
		distinct          map[string]bool
		tf                *timeFormat
	}
	profs := make([]prof, len(cols))
	for i, c := range cols {
		p := prof{name: c, n: norm(c), ints: true, distinct: map[string]bool{}}
		var vals [][]byte
		for r := 0; r < n; r++ {
			v := trimSpace(sample.cols[i].text(r))
			if len(v) == 0 {
				p.empty++
				continue
			}
			vals = append(vals, v)
			if len(p.distinct) < 5000 {
				p.distinct[string(v)] = true
			}
			if f, err := strconv.ParseFloat(string(v), 64); err == nil {
				p.nums++
				if f < 0 {
					p.negs++
				}
				if f != float64(int64(f)) {
					p.ints = false
				}
			} else if v[0] == 'C' || v[0] == 'c' {
				p.cPrefix++
			}
		}
		if len(vals) > 0 && p.nums < len(vals) || len(vals) > 0 && len(vals[0]) == 8 {
			if tf, ok := detectTimeFormat(vals[:min(len(vals), 200)], time.UTC); ok && tf.kind == tfLayout {
				p.tf = tf
			}
		}
		profs[i] = p
	}
	g := &Guess{Table: table}
	used := map[int]bool{}
	pick := func(canon, why string, match func(p *prof) bool) int {
		for i := range profs {
			if !used[i] && match(&profs[i]) {
				used[i] = true
				g.Guesses = append(g.Guesses, GuessedRole{canon, cols[i], why})
				return i
			}
		}
		return -1
	}
	has := func(p *prof, subs ...string) bool {
		for _, s := range subs {
			if strings.Contains(p.n, s) {
				return true
			}
		}
		return false
	}
	mapping := map[string]string{}
	ref := func(i int) string {
		if !header {
			return strconv.Itoa(i + 1)
		}
		return cols[i]
	}
	exprRef := func(i int) string {
		if !header {
			return "$" + strconv.Itoa(i+1)
		}
		if regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`).MatchString(cols[i]) {
			return cols[i]
		}
		return "`" + cols[i] + "`"
	}
	var filters []Filter
	timeCol := Specs[table].TimeCol
	cust := pick("customer_id", "name looks like a customer id", func(p *prof) bool {
		return has(p, "customerid", "custid", "customerno", "customernumber", "clientid", "userid", "accountid", "memberid")
	})
	if cust < 0 {
		cust = pick("customer_id", "name mentions customer/user/client", func(p *prof) bool { return has(p, "customer", "client", "user", "member", "account") })
	}
	var order, qty, price, amount int = -1, -1, -1, -1
	if table == Orders {
		order = pick("order_id", "name looks like an order or invoice number", func(p *prof) bool {
			return has(p, "invoiceno", "invoiceid", "invoice", "orderid", "orderno", "ordernumber", "transactionid", "receipt")
		})
	}
	tcol := pick(timeCol, "", func(p *prof) bool {
		return p.tf != nil && has(p, "date", "time", "created", "ordered", "timestamp", "at")
	})
	if tcol < 0 {
		tcol = pick(timeCol, "", func(p *prof) bool { return p.tf != nil })
	}
	if tcol >= 0 {
		g.Guesses[len(g.Guesses)-1].Why = "values parse as times with layout " + profs[tcol].tf.name
		src.TimeFormat = profs[tcol].tf.name
	}
	if table == Orders {
		qty = pick("quantity", "name looks like a quantity", func(p *prof) bool {
			return p.nums > 0 && has(p, "quantity", "qty", "units", "numberof", "count")
		})
		price = -1
		for i := range profs {
			if !used[i] && profs[i].nums > 0 && has(&profs[i], "unitprice", "price") {
				price = i
				break
			}
		}
		if qty >= 0 && price >= 0 {
			used[price] = true
			mapping["amount"] = exprRef(qty) + " * " + exprRef(price)
			g.Guesses = append(g.Guesses, GuessedRole{"amount", mapping["amount"], "quantity × unit price"})
		} else {
			amount = pick("amount", "name looks like money", func(p *prof) bool {
				return p.nums > 0 && has(p, "amount", "total", "revenue", "sales", "value", "spend", "price", "dollar", "paid")
			})
		}
		pick("product", "name looks like a product code", func(p *prof) bool { return has(p, "stockcode", "sku", "productid", "product", "itemid", "item") })
		pick("category", "name looks like a category", func(p *prof) bool { return has(p, "category") })
		pick("channel", "name looks like a channel", func(p *prof) bool { return has(p, "channel") })
		pick("discount", "name looks like a discount", func(p *prof) bool { return p.nums > 0 && has(p, "discount") })
	}
	// headerless whitespace files like CDNOW: id, id, date, count, value
	if !header && table == Orders {
		if cust < 0 {
			for i := range profs {
				if !used[i] && profs[i].ints && profs[i].tf == nil && profs[i].nums > 0 {
					used[i] = true
					cust = i
					g.Guesses = append(g.Guesses, GuessedRole{"customer_id", ref(i), "first integer column (no header)"})
					break
				}
			}
		}
		for i := len(profs) - 1; i >= 0 && amount < 0; i-- {
			if !used[i] && profs[i].nums > 0 && !profs[i].ints {
				used[i] = true
				amount = i
				g.Guesses = append(g.Guesses, GuessedRole{"amount", ref(i), "last decimal column (no header)"})
			}
		}
		for i := range profs {
			if !used[i] && qty < 0 && profs[i].ints && profs[i].nums > 0 && i > tcol && tcol >= 0 {
				used[i] = true
				qty = i
				g.Guesses = append(g.Guesses, GuessedRole{"quantity", ref(i), "small integer column after the date (no header)"})
			}
		}
	}
	for _, gs := range g.Guesses {
		if _, ok := mapping[gs.Canonical]; ok {
			continue
		}
		i := findColumn(cols, gs.Source)
		mapping[gs.Canonical] = ref(i)
	}
	// filters from what the sample shows
	if order >= 0 && profs[order].cPrefix > 0 {
		filters = append(filters, Filter{Name: "cancellations", Column: ref(order), StartsWith: "C"})
	}
	if qty >= 0 && profs[qty].negs > 0 {
		z := 0.0
		filters = append(filters, Filter{Name: "non_positive_quantity", Column: ref(qty), LE: &z})
	}
	if cust >= 0 && profs[cust].empty > 0 {
		filters = append(filters, Filter{Name: "no_customer", Column: ref(cust), Empty: true})
	}
	for i, c := range cols {
		if !used[i] {
			g.Unmapped = append(g.Unmapped, c)
		}
	}
	var missing []string
	for _, c := range Specs[table].Columns {
		if c.Required && mapping[c.Name] == "" {
			missing = append(missing, c.Name)
		}
	}
	// YAML
	rel := csvPath
	if !filepath.IsAbs(csvPath) {
		if a, err := filepath.Abs(csvPath); err == nil {
			if o, err := filepath.Abs(outPath); err == nil {
				if r, err := filepath.Rel(filepath.Dir(o), a); err == nil {
					rel = r
				}
			}
		}
	}
	var y strings.Builder
	fmt.Fprintf(&y, "# retain config written by `retain init --from %s` on %s.\n# Check the guesses, then run: retain extract --config %s\n", csvPath, time.Now().UTC().Format("2006-01-02"), filepath.Base(outPath))
	if len(missing) > 0 {
		fmt.Fprintf(&y, "# TODO: no column found for required %s: map it below.\n", strings.Join(missing, ", "))
	}
	y.WriteString("data_dir: ./retain-data\nshards: 8\nmax_bad_row_share: 0.01\nsources:\n")
	fmt.Fprintf(&y, "  %s:\n    format: csv\n    path: %s\n", table, yamlStr(rel))
	if src.Delimiter != "" {
		fmt.Fprintf(&y, "    delimiter: %s\n", yamlStr(src.Delimiter))
	}
	if !header {
		y.WriteString("    header: false\n")
	}
	if src.TimeFormat != "" {
		fmt.Fprintf(&y, "    time_format: %s\n", yamlStr(src.TimeFormat))
	}
	y.WriteString("    time_zone: UTC        # zone of times without an offset\n    # currency: USD\n    columns:\n")
	for _, c := range Specs[table].Columns {
		if v, ok := mapping[c.Name]; ok {
			fmt.Fprintf(&y, "      %s: %s\n", c.Name, yamlStr(v))
		} else if c.Required {
			fmt.Fprintf(&y, "      %s: \"\"   # TODO required\n", c.Name)
		}
	}
	if len(filters) > 0 {
		y.WriteString("    filters:              # drop rows matching a rule (counted per rule)\n")
		for _, f := range filters {
			fmt.Fprintf(&y, "      - name: %s\n        column: %s\n", f.Name, yamlStr(f.Column))
			switch {
			case f.StartsWith != "":
				fmt.Fprintf(&y, "        starts_with: %s\n", yamlStr(f.StartsWith))
			case f.LE != nil:
				fmt.Fprintf(&y, "        le: %g\n", *f.LE)
			case f.Empty:
				y.WriteString("        empty: true\n")
			}
		}
	}
	if len(g.Unmapped) > 0 {
		fmt.Fprintf(&y, "    # not mapped: %s\n", strings.Join(g.Unmapped, ", "))
	}
	g.YAML = y.String()
	return g, nil
}

func yamlStr(s string) string {
	if s == "" || strings.ContainsAny(s, ":#{}[],&*?|<>=!%@`'\"\\") || strings.TrimSpace(s) != s || s == "true" || s == "false" {
		return strconv.Quote(s)
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return strconv.Quote(s)
	}
	return s
}

func firstLine(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", &InputError{File: path, Msg: "cannot open", Err: err}
	}
	defer f.Close()
	br := bufio.NewReader(f)
	var r *bufio.Reader = br
	if m, _ := br.Peek(2); len(m) == 2 && m[0] == 0x1f && m[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return "", &InputError{File: path, Msg: "corrupt gzip", Err: err}
		}
		r = bufio.NewReader(gz)
	}
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		return "", &InputError{File: path, Msg: "file is empty (no header and no rows)"}
	}
	return strings.TrimPrefix(strings.TrimRight(line, "\r\n"), "\xef\xbb\xbf"), nil
}
