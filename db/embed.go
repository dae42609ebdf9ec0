// Package db holds posd's SQL: the migrations in schema/ (also sqlc's schema)
// and the queries in queries/ that sqlc turns into internal/store/internal/dbsqlc (the
// store's) and, from queries/relay/, internal/outbox/internal/relaydb.
package db

import "embed"

// Schema is the migrations directory, embedded so the binary can migrate a
// database without the source tree.
//
//go:embed schema/*.sql
var Schema embed.FS

// Queries is the queries directory, embedded so posbench renders its
// pgbench script from the very statements the store runs.
//
//go:embed queries/*.sql
var Queries embed.FS
