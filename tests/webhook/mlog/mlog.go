// Package mlog stands in for monis.app/mlog, which the Go module proxy here does not serve.
//
// The Azure Workload Identity webhook uses it only to log; this keeps the calls it makes (names, levels, the
// logr sink controller-runtime wants) and writes plain lines to stderr. The webhook's mutation logic, the
// thing under test, is the module's own and untouched.
package mlog

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

type LogLevel string

type LogFormat string

const (
	LevelWarning LogLevel = ""
	LevelInfo    LogLevel = "info"
	LevelDebug   LogLevel = "debug"
	LevelTrace   LogLevel = "trace"
	LevelAll     LogLevel = "all"

	FormatJSON LogFormat = "json"
	FormatText LogFormat = "text"
)

type LogSpec struct {
	Level  LogLevel
	Format LogFormat
}

var verbosity = map[LogLevel]int{LevelWarning: 0, LevelInfo: 1, LevelDebug: 2, LevelTrace: 3, LevelAll: 4}

var current = LevelWarning

// Logger is the subset of mlog's logger the webhook calls.
type Logger struct{ sink logr.Logger }

func root() logr.Logger {
	return funcr.New(func(prefix, args string) {
		fmt.Fprintln(os.Stderr, strings.TrimSpace(prefix+" "+args))
	}, funcr.Options{Verbosity: verbosity[current]})
}

func New() Logger { return Logger{sink: root()} }

func (l Logger) WithName(name string) Logger { return Logger{sink: l.sink.WithName(name)} }

func (l Logger) WithValues(kv ...any) Logger { return Logger{sink: l.sink.WithValues(kv...)} }

func (l Logger) Info(msg string, kv ...any) { l.sink.Info(msg, kv...) }

func (l Logger) Debug(msg string, kv ...any) { l.sink.V(2).Info(msg, kv...) }

func (l Logger) Error(msg string, err error, kv ...any) { l.sink.Error(err, msg, kv...) }

func Setup() func() { return func() {} }

func Fatal(err error) {
	fmt.Fprintln(os.Stderr, "fatal:", err)
	os.Exit(1)
}

func ValidateAndSetLogLevelAndFormatGlobally(_ context.Context, spec LogSpec) error {
	if _, ok := verbosity[spec.Level]; !ok {
		return fmt.Errorf("unknown log level %q", spec.Level)
	}
	current = spec.Level
	return nil
}

func Enabled(level LogLevel) bool { return verbosity[level] <= verbosity[current] }

func Logr() logr.Logger { return root() }
