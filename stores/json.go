package stores

import (
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends the row as a JSON object (the API's risk row: unknown
// numbers null, dates YYYY-MM-DD) without reflection: the risk-list endpoint
// writes thousands of rows per request.
func (r *RiskRecord) AppendJSON(b []byte) []byte {
	b = append(b, `{"customer_id":`...)
	b = appendString(b, r.CustomerID)
	b = append(b, `,"as_of":"`...)
	b = r.AsOf.UTC().AppendFormat(b, time.DateOnly)
	b = append(b, `","scored_at":"`...)
	b = r.ScoredAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","run_id":`...)
	b = appendString(b, r.RunID)
	b = append(b, `,"model_version":`...)
	b = appendString(b, r.ModelVersion)
	b = append(b, `,"churn_probability":`...)
	b = appendNum(b, r.ChurnProbability)
	b = append(b, `,"risk_tier":`...)
	b = appendString(b, r.RiskTier)
	b = append(b, `,"churn_percentile":`...)
	b = appendNum(b, r.ChurnPercentile)
	b = append(b, `,"p_alive":`...)
	b = appendNum(b, r.PAlive)
	b = append(b, `,"expected_purchases":`...)
	b = appendNum(b, r.ExpectedPurchases)
	b = append(b, `,"predicted_clv":`...)
	b = appendNum(b, r.PredictedCLV)
	b = append(b, `,"historic_clv":`...)
	b = appendNum(b, r.HistoricCLV)
	b = append(b, `,"value_at_risk":`...)
	b = appendNum(b, r.ValueAtRisk)
	b = append(b, `,"expected_next_order_date":`...)
	if r.ExpectedNextOrder.IsZero() {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = r.ExpectedNextOrder.UTC().AppendFormat(b, time.DateOnly)
		b = append(b, '"')
	}
	b = append(b, `,"reasons":`...)
	if r.RawReasons != "" {
		b = append(b, r.RawReasons...)
	} else {
		b = r.appendReasons(b)
	}
	b = append(b, `,"segment":`...)
	b = appendString(b, r.Segment)
	b = append(b, `,"value_risk_cell":`...)
	b = appendString(b, r.ValueRiskCell)
	b = append(b, `,"control_group":`...)
	b = strconv.AppendBool(b, r.ControlGroup)
	b = append(b, `,"row_hash":`...)
	b = appendString(b, r.RowHash)
	if !r.UpdatedAt.IsZero() {
		b = append(b, `,"updated_at":"`...)
		b = r.UpdatedAt.UTC().AppendFormat(b, time.RFC3339Nano)
		b = append(b, '"')
	}
	return append(b, '}')
}

func (r *RiskRecord) appendReasons(b []byte) []byte {
	b = append(b, '[')
	for i := range r.Reasons {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"feature":`...)
		b = appendString(b, r.Reasons[i].Feature)
		b = append(b, `,"contribution":`...)
		b = appendNum(b, r.Reasons[i].Contribution)
		b = append(b, `,"text":`...)
		b = appendString(b, r.Reasons[i].Text)
		b = append(b, '}')
	}
	return append(b, ']')
}

// MarshalJSON writes the row as AppendJSON does.
func (r RiskRecord) MarshalJSON() ([]byte, error) { return r.AppendJSON(nil), nil }

// AppendJSON appends the page as a JSON object.
func (p *RiskPage) AppendJSON(b []byte) []byte {
	b = append(b, `{"rows":[`...)
	for i := range p.Rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = p.Rows[i].AppendJSON(b)
	}
	b = append(b, `],"has_more":`...)
	b = strconv.AppendBool(b, p.HasMore)
	if p.NextCursor != "" {
		b = append(b, `,"next_cursor":`...)
		b = appendString(b, p.NextCursor)
	}
	b = append(b, `,"run_id":`...)
	b = appendString(b, p.RunID)
	b = append(b, `,"as_of":`...)
	b = appendString(b, p.AsOf)
	b = append(b, `,"model_version":`...)
	b = appendString(b, p.ModelVersion)
	return append(b, "}\n"...)
}

func appendNum(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendString appends s as a JSON string; plain ASCII is copied directly,
// anything else goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
