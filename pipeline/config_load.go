package pipeline

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/retainlab/retain/datasets"
	"go.yaml.in/yaml/v3"
)

// ConfigError is a problem with the config file: the file, and the key or
// line when known. It maps to exit status 2.
type ConfigError struct {
	File string
	Msg  string
}

func (e *ConfigError) Error() string { return e.File + ": " + e.Msg }

// BadInput marks the error as bad input (exit status 2).
func (e *ConfigError) BadInput() bool { return true }

// Defaults of the top-level config keys.
const (
	DefaultShards         = 8
	DefaultMaxBadRowShare = 0.01
)

var unknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)

// Load reads a YAML config, rejects unknown keys, fills defaults, resolves
// relative paths against the config file's folder and validates every
// section (messages name the offending key).
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: fmt.Sprintf("cannot read config: %v", err)}
	}
	return Parse(b, path)
}

// Parse is Load over bytes already read; path names the file in messages
// and anchors relative paths.
func Parse(data []byte, path string) (*Config, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, &ConfigError{File: path, Msg: err.Error()}
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &ConfigError{File: path, Msg: "config is empty: it needs at least data_dir and sources"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{File: path, Msg: "config is empty: it needs at least data_dir and sources"}
		}
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
		msg = unknownField.ReplaceAllString(msg, "unknown key $1")
		return nil, &ConfigError{File: path, Msg: strings.ReplaceAll(msg, "\n  ", "; ")}
	}
	cfg.path = abs
	if err := cfg.defaultsAndValidate(); err != nil {
		return nil, &ConfigError{File: path, Msg: err.Error()}
	}
	return &cfg, nil
}

// Path is the config file's absolute path ("" for a Config not loaded from a file).
func (c *Config) Path() string { return c.path }

// Resolve makes a path from the config absolute, relative to the config
// file's folder (or the working directory for a Config not from a file).
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	if strings.HasPrefix(p, "~/") {
		if h, err := os.UserHomeDir(); err == nil {
			return filepath.Join(h, p[2:])
		}
	}
	if c.path == "" {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	return filepath.Join(filepath.Dir(c.path), p)
}

// BadRowShare is max_bad_row_share with its default.
func (c *Config) BadRowShare() float64 {
	if c.MaxBadRowShare == nil {
		return DefaultMaxBadRowShare
	}
	return *c.MaxBadRowShare
}

func (c *Config) defaultsAndValidate() error {
	if strings.TrimSpace(c.DataDir) == "" {
		return errors.New("data_dir: required (where snapshots, runs and models go)")
	}
	c.DataDir = c.Resolve(os.ExpandEnv(c.DataDir))
	if c.Shards == 0 {
		c.Shards = DefaultShards
	}
	if c.Shards < 1 || c.Shards > 4096 {
		return fmt.Errorf("shards: %d is not between 1 and 4096", c.Shards)
	}
	if c.MaxBadRowShare != nil && (*c.MaxBadRowShare < 0 || *c.MaxBadRowShare > 1) {
		return fmt.Errorf("max_bad_row_share: %g is not between 0 and 1 (0.01 means 1%%)", *c.MaxBadRowShare)
	}
	if c.ExtractMemory != "" {
		n, err := ParseBytes(c.ExtractMemory)
		if err != nil {
			return fmt.Errorf("extract_memory: %w", err)
		}
		c.extractMemory = n
	}
	if len(c.Sources) == 0 {
		return errors.New("sources: at least one table needs a source (e.g. sources.orders)")
	}
	tables := make([]string, 0, len(c.Sources))
	for t := range c.Sources {
		tables = append(tables, string(t))
	}
	sort.Strings(tables)
	for _, name := range tables {
		t := datasets.Table(name)
		src := c.Sources[t]
		if err := src.Validate("sources."+name, t); err != nil {
			return err
		}
		src.Path = c.Resolve(os.ExpandEnv(src.Path))
		src.DSN = os.ExpandEnv(src.DSN)
		if src.Format == "sqlite" && src.Path == "" && !strings.Contains(src.DSN, ":") {
			src.DSN = c.Resolve(src.DSN)
		}
		c.Sources[t] = src
	}
	if _, ok := c.Sources[datasets.Orders]; !ok {
		if _, ok := c.Sources[datasets.Subscriptions]; !ok {
			return errors.New("sources: needs orders or subscriptions (churn is defined on one of them)")
		}
	}
	// every other section validates itself when its type has Validate() error
	v := reflect.ValueOf(c).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Type().Field(i)
		if !f.IsExported() || f.Name == "Sources" {
			continue
		}
		fv := v.Field(i)
		if fv.CanAddr() {
			if val, ok := fv.Addr().Interface().(interface{ Validate() error }); ok {
				if err := val.Validate(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// ParseBytes reads a size such as 600MiB, 1.5GB, 512KiB or 1048576 (bytes):
// B, KB/MB/GB (powers of 1000) and KiB/MiB/GiB (powers of 1024), case
// insensitive, spaces allowed before the unit. The size must be positive.
func ParseBytes(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	mult := map[string]float64{"": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}[unit]
	v, err := strconv.ParseFloat(num, 64)
	if mult == 0 || err != nil || num == "" {
		return 0, fmt.Errorf("%q is not a size (e.g. 600MiB, 1GB)", s)
	}
	b := v * mult
	if !(b >= 1) || b > 1<<50 {
		return 0, fmt.Errorf("%q is not a positive size below 1 PiB", s)
	}
	return int64(b), nil
}
