package stores

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Token scopes. admin implies claim, claim implies read.
const (
	ScopeRead  = "read"
	ScopeClaim = "claim"
	ScopeAdmin = "admin"
)

// Token is an API bearer token as stored: only its SHA-256 is kept.
type Token struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Scopes    []string  `json:"scopes"`
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// Allows reports whether the token grants scope.
func (t *Token) Allows(scope string) bool {
	for _, s := range t.Scopes {
		if s == scope || s == ScopeAdmin || (s == ScopeClaim && scope == ScopeRead) {
			return true
		}
	}
	return false
}

func hashToken(plain string) string {
	h := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(h[:])
}

// ParseScopes checks a comma-separated scope list.
func ParseScopes(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if p != ScopeRead && p != ScopeClaim && p != ScopeAdmin {
			return nil, badInput("scopes: %q is not read, claim or admin", p)
		}
		if !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, badInput("scopes: give at least one of read, claim, admin")
	}
	return out, nil
}

// CreateToken makes a new random token and stores its hash; the plain token
// is returned once and cannot be recovered.
func (db *DB) CreateToken(ctx context.Context, name string, scopes []string) (string, Token, error) {
	if name == "" || len(name) > 100 {
		return "", Token{}, badInput("name: missing or longer than 100 characters")
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", Token{}, fmt.Errorf("creating token: %w", err)
	}
	plain := "rt_" + base64.RawURLEncoding.EncodeToString(b[:])
	t := Token{Name: name, Scopes: scopes, CreatedAt: db.now().UTC().Truncate(time.Microsecond)}
	err := db.w.QueryRowContext(ctx, `INSERT INTO api_tokens (name, token_hash, scopes, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		name, hashToken(plain), strings.Join(scopes, ","), db.ts(t.CreatedAt)).Scan(&t.ID)
	if err != nil {
		return "", Token{}, fmt.Errorf("%s: storing token: %w", db.label, err)
	}
	return plain, t, nil
}

// LookupToken finds the live token whose hash matches plain (ErrNotFound otherwise).
func (db *DB) LookupToken(ctx context.Context, plain string) (Token, error) {
	var t Token
	var scopes string
	err := db.r.QueryRowContext(ctx, `SELECT id, name, scopes, created_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL`, hashToken(plain)).
		Scan(&t.ID, &t.Name, &scopes, dbTime{&t.CreatedAt})
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, fmt.Errorf("%s: looking up token: %w", db.label, err)
	}
	t.Scopes = strings.Split(scopes, ",")
	return t, nil
}

// Tokens lists the tokens (never their secrets).
func (db *DB) Tokens(ctx context.Context) ([]Token, error) {
	rs, err := db.r.QueryContext(ctx, `SELECT id, name, scopes, created_at, revoked_at FROM api_tokens ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("%s: listing tokens: %w", db.label, err)
	}
	defer rs.Close()
	out := []Token{}
	for rs.Next() {
		var t Token
		var scopes string
		if err := rs.Scan(&t.ID, &t.Name, &scopes, dbTime{&t.CreatedAt}, dbTime{&t.RevokedAt}); err != nil {
			return nil, fmt.Errorf("%s: listing tokens: %w", db.label, err)
		}
		t.Scopes = strings.Split(scopes, ",")
		out = append(out, t)
	}
	return out, rs.Err()
}

// RevokeToken revokes the token with this id.
func (db *DB) RevokeToken(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, db.ts(db.now().UTC()), id)
	if err != nil {
		return fmt.Errorf("%s: revoking token: %w", db.label, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}
