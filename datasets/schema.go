// Package datasets owns retain's canonical customer data: the table schemas
// (customers, orders, events, subscriptions, tickets, surveys, interventions),
// the readers that bring each source (CSV, Parquet, Postgres, SQLite) into
// Arrow record batches under those schemas, validation and quarantine of bad
// rows, and the sharded Parquet snapshots every later stage reads.
//
// Rules: nothing here imports another retain package except its own
// sub-packages; bad rows are never dropped silently (they are quarantined with
// file, line, column, value and reason); every time column is stored as an
// Arrow timestamp in microseconds, UTC.
package datasets

import "github.com/apache/arrow-go/v18/arrow"

// Table names a canonical table.
type Table string

// The canonical tables.
const (
	Customers     Table = "customers"
	Orders        Table = "orders"
	Events        Table = "events"
	Subscriptions Table = "subscriptions"
	Tickets       Table = "tickets"
	Surveys       Table = "surveys"
	Interventions Table = "interventions"
)

// Tables lists every canonical table in a fixed order.
var Tables = []Table{Customers, Orders, Events, Subscriptions, Tickets, Surveys, Interventions}

// Kind is the logical type of a canonical column.
type Kind int

// Column kinds. Times are stored as timestamp[us, UTC].
const (
	String Kind = iota
	Float
	Int
	Bool
	Time
)

// Column describes one canonical column.
type Column struct {
	Name     string
	Kind     Kind
	Required bool
	Meaning  string
}

// TableSpec describes a canonical table: its columns, which one orders rows in
// time (empty for customers), and what the table means.
type TableSpec struct {
	Name    Table
	TimeCol string
	Meaning string
	Columns []Column
}

// Specs holds the canonical schema of every table. Snapshots store exactly
// these columns, in this order, after the key columns customer_id and the
// time column.
var Specs = map[Table]TableSpec{
	Customers: {Name: Customers, TimeCol: "signed_up_at", Meaning: "one row per customer: who they are and how they joined", Columns: []Column{
		{"customer_id", String, true, "stable customer identifier"},
		{"signed_up_at", Time, false, "when the customer signed up or first bought"},
		{"country", String, false, "country name or ISO code"},
		{"segment", String, false, "business segment (e.g. consumer, wholesale)"},
		{"acquisition_channel", String, false, "channel that acquired the customer"},
		{"birth_year", Int, false, "year of birth"},
		{"gender", String, false, "gender as recorded"},
	}},
	Orders: {Name: Orders, TimeCol: "ordered_at", Meaning: "one row per order (order lines are rolled up to orders)", Columns: []Column{
		{"customer_id", String, true, "customer who placed the order"},
		{"ordered_at", Time, true, "when the order was placed"},
		{"order_id", String, false, "order or invoice number"},
		{"amount", Float, true, "order value in the configured currency (computed, e.g. quantity × unit price, when mapped that way)"},
		{"quantity", Float, false, "items in the order"},
		{"product", String, false, "product or SKU (first line's when rolled up)"},
		{"category", String, false, "product category"},
		{"channel", String, false, "sales channel (web, store, app, …)"},
		{"discount", Float, false, "discount value granted on the order"},
		{"returned", Bool, false, "whether the order was returned or cancelled"},
		{"lines", Int, false, "number of order lines rolled up into this order"},
		{"distinct_products", Int, false, "distinct products among the rolled-up lines"},
	}},
	Events: {Name: Events, TimeCol: "occurred_at", Meaning: "engagement events (logins, page views, emails opened, …)", Columns: []Column{
		{"customer_id", String, true, "customer"},
		{"occurred_at", Time, true, "when it happened"},
		{"event_type", String, true, "type of event (login, view, email_open, …)"},
		{"channel", String, false, "where it happened"},
	}},
	Subscriptions: {Name: Subscriptions, TimeCol: "started_at", Meaning: "contract periods (one row per subscription)", Columns: []Column{
		{"customer_id", String, true, "customer"},
		{"started_at", Time, true, "start of the subscription"},
		{"subscription_id", String, false, "subscription identifier"},
		{"plan", String, false, "plan name"},
		{"ended_at", Time, false, "end (null while active)"},
		{"mrr", Float, false, "monthly recurring revenue"},
		{"status", String, false, "active, cancelled, past_due, …"},
		{"failed_payments", Int, false, "failed payment attempts during the subscription"},
	}},
	Tickets: {Name: Tickets, TimeCol: "opened_at", Meaning: "support tickets", Columns: []Column{
		{"customer_id", String, true, "customer"},
		{"opened_at", Time, true, "when the ticket was opened"},
		{"ticket_id", String, false, "ticket identifier"},
		{"closed_at", Time, false, "when it was closed (null while open)"},
		{"status", String, false, "open, pending, solved, closed"},
		{"priority", String, false, "low, normal, high, urgent"},
	}},
	Surveys: {Name: Surveys, TimeCol: "answered_at", Meaning: "survey answers: NPS (0–10), CSAT (1–5), CES (1–7)", Columns: []Column{
		{"customer_id", String, true, "customer"},
		{"answered_at", Time, true, "when the answer was given"},
		{"nps", Float, false, "net promoter score answer 0–10"},
		{"csat", Float, false, "customer satisfaction 1–5"},
		{"ces", Float, false, "customer effort score 1–7"},
	}},
	Interventions: {Name: Interventions, TimeCol: "contacted_at", Meaning: "campaign contacts, with treatment or control and the outcome", Columns: []Column{
		{"customer_id", String, true, "customer"},
		{"contacted_at", Time, true, "when the contact was made (or would have been, for control)"},
		{"campaign", String, true, "campaign name"},
		{"treatment", String, false, "treatment or control"},
		{"outcome", String, false, "retained, churned, converted, no_response, …"},
	}},
}

// ArrowType returns the Arrow type used for a column kind in snapshots.
func (k Kind) ArrowType() arrow.DataType {
	switch k {
	case String:
		return arrow.BinaryTypes.String
	case Float:
		return arrow.PrimitiveTypes.Float64
	case Int:
		return arrow.PrimitiveTypes.Int64
	case Bool:
		return arrow.FixedWidthTypes.Boolean
	case Time:
		return &arrow.TimestampType{Unit: arrow.Microsecond, TimeZone: "UTC"}
	}
	panic("datasets: unknown column kind")
}

// ArrowSchema returns the snapshot schema of a table: its canonical columns
// in Specs order. Optional columns absent from a source are stored as nulls.
func (s TableSpec) ArrowSchema() *arrow.Schema {
	fields := make([]arrow.Field, len(s.Columns))
	for i, c := range s.Columns {
		fields[i] = arrow.Field{Name: c.Name, Type: c.Kind.ArrowType(), Nullable: !c.Required}
	}
	return arrow.NewSchema(fields, nil)
}
