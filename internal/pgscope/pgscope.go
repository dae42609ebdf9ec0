// Package pgscope owns the settings of posd's row-level security
// (db/schema/0001_baseline.sql): SetVenue and SetSystem scope a
// transaction to one venue or to every venue, SystemSession a whole session
// (the relay's connection). The store's transactions (internal/store/tx.go)
// and posbench's pgbench script use these constants.
// Row-level security itself is tested in internal/store
// (TestRowLevelSecurity).
package pgscope

// SetVenue names the venue row-level security lets a transaction see; it is
// transaction-local. Its one argument is the venue id.
const SetVenue = "SELECT set_config('posd.venue', $1, true)"

// SetSystem lets a transaction see every venue; it is transaction-local.
const SetSystem = "SELECT set_config('posd.scope', 'system', true)"

// SystemSession is SetSystem for a whole session (the relay's connection).
const SystemSession = "SELECT set_config('posd.scope', 'system', false)"
