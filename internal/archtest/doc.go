// Package archtest holds tests of the code's shape: every package is
// documented, internal/domain imports only the standard library, transports
// and formats stay below the application layers, and each transport and
// format lives in its own folder, registers itself and is linked in by
// internal/all. It has no code of its own.
package archtest
