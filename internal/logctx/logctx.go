// Package logctx carries the request id through a context and adds it to
// every log line written with that context.
package logctx

import (
	"context"
	"log/slog"
)

type requestIDKey struct{}

// WithRequestID returns a context that carries id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request id in ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// Handler wraps an slog.Handler so that every record logged with a context
// that carries a request id gets a request_id attribute.
type Handler struct{ slog.Handler }

// NewHandler returns h wrapped by a Handler.
func NewHandler(h slog.Handler) *Handler { return &Handler{Handler: h} }

// Handle adds request_id from ctx, when there is one.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if id := RequestID(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{Handler: h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{Handler: h.Handler.WithGroup(name)}
}

// levelHandler drops records below a minimum level.
type levelHandler struct {
	slog.Handler
	min slog.Level
}

// AtLeast returns h that drops records below min: for chatty libraries
// (River logs job counts every few seconds at info).
func AtLeast(h slog.Handler, min slog.Level) slog.Handler {
	return &levelHandler{Handler: h, min: min}
}

// Enabled reports whether level passes both the minimum and h.
func (h *levelHandler) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= h.min && h.Handler.Enabled(ctx, level)
}

// WithAttrs keeps the minimum on the derived handler.
func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

// WithGroup keeps the minimum on the derived handler.
func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithGroup(name), min: h.min}
}
