package migrate_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/posd/posd/db"
	"github.com/posd/posd/internal/migrate"
	"github.com/posd/posd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// repoRoot is the module root, two levels above this package.
const repoRoot = "../.."

// TestMigratedSchemaMatchesSqlcSchema migrates an empty database with goose
// (migrate.Up, the embedded files, exactly as "posd migrate" does) and
// applies the schema sqlc generates internal/store/internal/dbsqlc from (the schema path of
// sqlc.yaml, read the way sqlc reads it) to a second empty database, then
// compares the two catalogs: relations, columns with their types, defaults
// and order, constraints, indexes, triggers, functions, views, policies,
// privileges and comments. It fails when the two diverge, e.g. when sqlc.yaml
// points at other files than the binary embeds, or when goose orders the
// files by version differently from sqlc's lexical order (0010_a.sql vs
// 009_b.sql), which changes column order.
func TestMigratedSchemaMatchesSqlcSchema(t *testing.T) {
	ctx := context.Background()
	migrated := emptyDB(t)
	v, err := migrate.Up(ctx, migrated)
	require.NoError(t, err)
	require.Equal(t, lastVersion(t), v, "migrate.Up must apply every embedded migration")

	raw := emptyDB(t)
	conn, err := pgx.Connect(ctx, raw)
	require.NoError(t, err)
	defer conn.Close(ctx)
	for _, f := range sqlcSchemaFiles(t) {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		// No arguments: the simple protocol, so a file runs as one batch of
		// statements (DO blocks and function bodies included), as psql would.
		_, err = conn.Exec(ctx, upPart(string(b)))
		require.NoError(t, err, "apply %s as sqlc reads it", f)
	}

	got, want := catalog(t, migrated), catalog(t, raw)
	if onlySqlc, onlyGoose := difference(want, got), difference(got, want); len(onlySqlc)+len(onlyGoose) > 0 {
		t.Errorf("the schema goose migrates to differs from the schema sqlc reads\nonly in sqlc's schema:\n  %s\nonly in the migrated database:\n  %s",
			strings.Join(onlySqlc, "\n  "), strings.Join(onlyGoose, "\n  "))
	}

	// Guard against a comparison that passes because it compared nothing.
	require.Greater(t, len(got), 300, "catalog snapshot suspiciously small")
	require.Contains(t, got, "column kitchen_tickets 018 voided_by text notnull=t default=''::text ident= gen= acl=")
	require.Contains(t, got, "relation venues kind=r rls=t force=t options= acl={postgres=arwdDxt/postgres,posd_app=r/postgres}")
}

// difference lists the lines of a that b lacks (as a multiset).
func difference(a, b []string) []string {
	n := map[string]int{}
	for _, s := range b {
		n[s]++
	}
	var out []string
	for _, s := range a {
		if n[s] > 0 {
			n[s]--
			continue
		}
		out = append(out, s)
	}
	return out
}

// digests holds the SHA-256 of every committed migration. Migrations are
// append-only (db/schema/0001_baseline.sql): a database that ran a
// migration never runs it again, so editing one makes databases differ by
// when they were migrated. Add the digest of a new migration here when you
// add the file; never change an existing digest.
var digests = map[string]string{
	"0001_baseline.sql":         "b6f5f8af822176e9c1d5878daf8ca7a2f4057a9abd6b028a9e7d9a032c835478",
	"0002_catalog.sql":          "8cab36e70d582d4e4b29158132f393b5cd29d6bb3d4e5540d31595aaae0dd51c",
	"0003_line_options.sql":     "b9069bffc35b2a7c4e0851a99f461d6a231413ad5e4931360607206a4e73847e",
	"0004_pricing.sql":          "cf3b537c50754a24d74a179fca5d2887bfef7849c1b29fa2cb913ba0913ee7f8",
	"0005_menu_log.sql":         "789eeecc39ad93f16b89e82eca64afb57664768c7dc3d35a1677ab247c9b5ffe",
	"0006_orders_full_json.sql": "b860475cb053f06aa55871008589d41ce93d9b5bc82bae30b43df5b780e69f7c",
	"0007_line_portions.sql":    "769718d7d1433d041bd7d9351a6e137afc4c8c6845b8cb773f9ebb5392e35aa9",
	"0008_tips.sql":             "c0d1b20601305010287ce943dc305974cab12fc14cb24531cf998b1d3c542ac6",
	"0009_checks.sql":           "b93c214b1341f562be2b59b111d661e5b1c9bda7f664010728566acbf3156323",
	"0010_ticket_moves.sql":     "04ba571f812a9ff9b324acb10e69cfbaa889b7a40f2b88aeaf0770475af9127c",
}

// TestMigrationsAppendOnly fails when a committed migration was edited or
// removed, or a new one was added without recording its digest.
func TestMigrationsAppendOnly(t *testing.T) {
	files, err := fs.Glob(db.Schema, "schema/*.sql")
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, f := range files {
		b, err := fs.ReadFile(db.Schema, f)
		require.NoError(t, err)
		sum := sha256.Sum256(b)
		name := filepath.Base(f)
		seen[name] = true
		want, ok := digests[name]
		require.True(t, ok, "new migration %s: add its digest %s to digests", name, hex.EncodeToString(sum[:]))
		require.Equal(t, want, hex.EncodeToString(sum[:]),
			"%s was edited after it was committed: migrations are append-only, add a new one instead", name)
	}
	for name := range digests {
		require.True(t, seen[name], "migration %s was removed: migrations are append-only", name)
	}
}

var dbSeq atomic.Int64

// emptyDB creates an empty database on the test cluster (from template0, so
// nothing of the migrated test template is in it) and returns its superuser
// URL. The role posd_app is cluster-wide and exists already; the migrations
// create it only when it is missing.
func emptyDB(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pgtest.URL("postgres"))
	require.NoError(t, err)
	defer admin.Close(ctx)
	name := "schema_" + strconv.Itoa(os.Getpid()) + "_" + strconv.FormatInt(dbSeq.Add(1), 10)
	_, err = admin.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0")
	require.NoError(t, err)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), pgtest.URL("postgres"))
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return pgtest.URL(name)
}

// lastVersion is the version goose reports after applying every embedded
// migration: the numeric prefix of the last file.
func lastVersion(t *testing.T) int64 {
	t.Helper()
	files, err := fs.Glob(db.Schema, "schema/*.sql")
	require.NoError(t, err)
	var last int64
	for _, f := range files {
		n, err := strconv.ParseInt(strings.SplitN(filepath.Base(f), "_", 2)[0], 10, 64)
		require.NoError(t, err, "migration %s has no numeric version", f)
		last = max(last, n)
	}
	return last
}

// sqlcSchemaFiles lists the files sqlc reads as its schema: the schema path
// of sqlc.yaml's targets (one path, shared by all) (a file or a directory), and for a directory its *.sql files
// in name order, leaving out hidden files and *.down.sql.
func sqlcSchemaFiles(t *testing.T) []string {
	t.Helper()
	cfg, err := os.ReadFile(filepath.Join(repoRoot, "sqlc.yaml"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^\s*schema:\s*"?([^"\s]+)"?\s*$`).FindAllSubmatch(cfg, -1)
	require.NotEmpty(t, m, "sqlc.yaml: no scalar schema path (teach this test to read lists)")
	// Every sqlc target (the store's, the relay's) reads the same schema.
	for _, other := range m[1:] {
		require.Equal(t, string(m[0][1]), string(other[1]), "sqlc.yaml: the targets read different schemas")
	}
	path := filepath.Join(repoRoot, string(m[0][1]))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	if !fi.IsDir() {
		return []string{path}
	}
	entries, err := os.ReadDir(path)
	require.NoError(t, err)
	var files []string
	for _, e := range entries { // os.ReadDir sorts by name
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".sql") || strings.HasPrefix(n, ".") || strings.HasSuffix(n, ".down.sql") {
			continue
		}
		files = append(files, filepath.Join(path, n))
	}
	require.NotEmpty(t, files)
	return files
}

// upPart is what sqlc keeps of a goose migration: everything before the
// "-- +goose Down" line.
func upPart(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(strings.ToLower(line), "-- +goose down") {
			break
		}
		b.WriteString(line)
	}
	return b.String()
}

// catalog describes the public schema of the database at url, one line per
// object, sorted (columns keep their order through their position). goose's
// own table is left out.
func catalog(t *testing.T, url string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	defer conn.Close(ctx)
	const ns = `'public'::regnamespace`
	queries := []string{
		`SELECT format('relation %s kind=%s rls=%s force=%s options=%s acl=%s', relname, relkind,
		        relrowsecurity, relforcerowsecurity, coalesce(reloptions::text, ''), coalesce(relacl::text, ''))
		   FROM pg_class WHERE relnamespace = ` + ns + ` AND relname NOT LIKE 'goose_db_version%'`,
		`SELECT format('column %s %s %s %s notnull=%s default=%s ident=%s gen=%s acl=%s', c.relname,
		        lpad((row_number() OVER (PARTITION BY c.oid ORDER BY a.attnum))::text, 3, '0'), a.attname,
		        format_type(a.atttypid, a.atttypmod), a.attnotnull,
		        coalesce(pg_get_expr(d.adbin, d.adrelid), ''), a.attidentity, a.attgenerated,
		        coalesce(a.attacl::text, ''))
		   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		  WHERE c.relnamespace = ` + ns + ` AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
		    AND c.relname <> 'goose_db_version' AND a.attnum > 0 AND NOT a.attisdropped`,
		`SELECT format('constraint %s %s %s %s', conrelid::regclass, conname, contype, pg_get_constraintdef(oid))
		   FROM pg_constraint WHERE connamespace = ` + ns + ` AND conrelid::regclass::text <> 'goose_db_version'`,
		`SELECT format('index %s', pg_get_indexdef(i.indexrelid))
		   FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
		  WHERE c.relnamespace = ` + ns + ` AND i.indrelid::regclass::text <> 'goose_db_version'`,
		`SELECT format('trigger %s', pg_get_triggerdef(oid)) FROM pg_trigger WHERE NOT tgisinternal
		    AND tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = ` + ns + `)`,
		`SELECT format('function %s acl=%s %s', oid::regprocedure, coalesce(proacl::text, ''), pg_get_functiondef(oid))
		   FROM pg_proc WHERE pronamespace = ` + ns + ` AND prokind IN ('f', 'p')`,
		`SELECT format('view %s %s', oid::regclass, pg_get_viewdef(oid))
		   FROM pg_class WHERE relnamespace = ` + ns + ` AND relkind IN ('v', 'm')`,
		`SELECT format('policy %s %s %s %s %s using=%s check=%s', tablename, policyname, permissive,
		        roles, cmd, coalesce(qual, ''), coalesce(with_check, ''))
		   FROM pg_policies WHERE schemaname = 'public'`,
		`SELECT format('type %s kind=%s %s', t.typname, t.typtype,
		        coalesce((SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid),
		                 format_type(t.typbasetype, t.typtypmod)))
		   FROM pg_type t WHERE t.typnamespace = ` + ns + ` AND t.typtype IN ('e', 'd')`,
		`SELECT format('sequence %s %s %s %s %s %s', schemaname, sequencename, data_type, start_value, increment_by, cycle)
		   FROM pg_sequences WHERE schemaname = 'public' AND sequencename NOT LIKE 'goose_db_version%'`,
		`SELECT format('comment %s %s', pg_describe_object(classoid, objoid, objsubid), description)
		   FROM pg_description WHERE pg_describe_object(classoid, objoid, objsubid) NOT LIKE '%goose_db_version%'
		    AND (classoid, objoid) NOT IN (SELECT 'pg_proc'::regclass, oid FROM pg_proc WHERE pronamespace <> ` + ns + `)
		    AND objoid >= 16384`,
		`SELECT format('extension %s', extname) FROM pg_extension`,
	}
	var out []string
	for _, q := range queries {
		rows, err := conn.Query(ctx, q)
		require.NoError(t, err, q)
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		require.NoError(t, err, q)
		out = append(out, lines...)
	}
	sort.Strings(out)
	return out
}

// expandOnly are the clauses a migration's Up must not hold, because the
// posd binary still running during a rolling upgrade (deploy/README.md,
// "Upgrading") reads and writes the schema as it was: it would lose a column,
// table or function it uses, write a type it does not know, or fail an
// insert that leaves a new NOT NULL column out. Each is matched against one
// statement at a time, whatever its line breaks.
var expandOnly = []struct {
	re   *regexp.Regexp
	what string
}{
	{regexp.MustCompile(`(?is)\bDROP\s+(TABLE|FUNCTION|TRIGGER|POLICY|SEQUENCE|TYPE)\b`), "drops what the running binary uses"},
	{regexp.MustCompile(`(?is)\bRENAME\b`), "renames what the running binary uses"},
	{regexp.MustCompile(`(?is)\bALTER\s+(COLUMN\s+)?\w+\s+(SET\s+DATA\s+)?TYPE\b`), "changes a column's type under the running binary"},
	{regexp.MustCompile(`(?is)\bSET\s+NOT\s+NULL\b`), "makes the running binary's inserts without the column fail"},
	{regexp.MustCompile(`(?is)\bREVOKE\b`), "takes a privilege away from the running binary"},
}

// dropColumn is a DROP [COLUMN] clause of ALTER TABLE; its name is not one
// of dropKeywords (DROP DEFAULT, DROP CONSTRAINT … are not columns).
var dropColumn = regexp.MustCompile(`(?is)\bDROP\s+(COLUMN\s+)?(IF\s+EXISTS\s+)?"?(\w+)"?\s*(,|;|$|CASCADE|RESTRICT)`)

var dropKeywords = map[string]bool{"DEFAULT": true, "CONSTRAINT": true, "NOT": true, "IDENTITY": true, "EXPRESSION": true}

// addColumn is one ADD COLUMN clause, up to the next clause or the end.
var addColumn = regexp.MustCompile(`(?is)\bADD\s+COLUMN\s+(IF\s+NOT\s+EXISTS\s+)?\w+[^,;]*`)

// expandOnlyExceptions are the statements that break the rule, by file and
// the start of the statement, each with why the running binary is not hurt.
var expandOnlyExceptions = map[string]string{
	"0001_baseline.sql: REVOKE EXECUTE ON FUNCTION posd_prune_outbox":             "the baseline: no binary ran before it",
	"0001_baseline.sql: REVOKE EXECUTE ON FUNCTION posd_event_hash":               "the baseline: no binary ran before it",
	"0002_catalog.sql: ALTER TABLE menu_items ALTER COLUMN position SET NOT NULL": "the column is added and filled in the same migration, and menu items are written only by posd seed and posd menu import, which run the new binary",
}

// upStatements splits a migration's Up into statements: at semicolons
// outside dollar-quoted bodies, comments removed, whitespace collapsed.
func upStatements(sql string) []string {
	up, _, _ := strings.Cut(sql, "-- +goose Down")
	var lines []string
	for _, l := range strings.Split(up, "\n") {
		if c := strings.Index(l, "--"); c >= 0 {
			l = l[:c]
		}
		lines = append(lines, l)
	}
	var out []string
	var cur strings.Builder
	inBody := false
	for _, part := range strings.SplitAfter(strings.Join(lines, "\n"), ";") {
		inBody = inBody != (strings.Count(part, "$$")%2 == 1)
		cur.WriteString(part)
		if !inBody {
			if st := strings.Join(strings.Fields(cur.String()), " "); st != "" && st != ";" {
				out = append(out, st)
			}
			cur.Reset()
		}
	}
	return out
}

// notExpandOnly says what in statement st would break the running binary.
func notExpandOnly(st string) []string {
	var why []string
	for _, r := range expandOnly {
		if r.re.MatchString(st) && !strings.Contains(st, "$$") {
			why = append(why, r.what)
		}
	}
	if strings.HasPrefix(strings.ToUpper(st), "ALTER TABLE") {
		for _, m := range dropColumn.FindAllStringSubmatch(st, -1) {
			if !dropKeywords[strings.ToUpper(m[3])] {
				why = append(why, "drops a column the running binary uses")
			}
		}
	}
	for _, c := range addColumn.FindAllString(st, -1) {
		u := strings.ToUpper(c)
		if strings.Contains(u, "NOT NULL") && !strings.Contains(u, "DEFAULT") {
			why = append(why, "adds a NOT NULL column without a default, which the running binary's inserts leave out")
		}
	}
	return why
}

// TestExpandOnlyRules: the rules catch what breaks a running binary however
// the statement is written, and let through what does not.
func TestExpandOnlyRules(t *testing.T) {
	for _, c := range []struct {
		sql string
		bad bool
	}{
		{"ALTER TABLE orders DROP COLUMN note;", true},
		{"ALTER TABLE orders\n    DROP note;", true},
		{"ALTER TABLE orders ADD COLUMN x int,\n  DROP IF EXISTS y;", true},
		{"ALTER TABLE orders ADD COLUMN x int\n    NOT NULL;", true},
		{"ALTER TABLE orders ADD COLUMN x int NOT NULL DEFAULT 0, ADD COLUMN y int NOT NULL;", true},
		{"ALTER TABLE orders ALTER note TYPE varchar(10);", true},
		{"ALTER TABLE orders RENAME COLUMN note TO memo;", true},
		{"ALTER TABLE orders ALTER COLUMN note SET NOT NULL;", true},
		{"DROP TABLE order_conflicts;", true},
		{"DROP FUNCTION posd_event_hash(bytea, order_events);", true},
		{"REVOKE SELECT ON orders FROM posd_app;", true},
		{"ALTER TABLE orders ADD COLUMN x int NOT NULL DEFAULT 0, ADD COLUMN y text;", false},
		{"ALTER TABLE orders DROP CONSTRAINT orders_x, ADD CONSTRAINT orders_x CHECK (x >= 0);", false},
		{"ALTER TABLE orders ALTER COLUMN note DROP NOT NULL;", false},
		{"ALTER TABLE orders ALTER COLUMN note DROP DEFAULT;", false},
		{"CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN DROP TABLE t; RETURN NULL; END $$;", false},
	} {
		stmts := upStatements("-- +goose Up\n" + c.sql + "\n-- +goose Down\nDROP TABLE x;\n")
		require.Len(t, stmts, 1, c.sql)
		require.Equal(t, c.bad, len(notExpandOnly(stmts[0])) > 0, "%s: %v", c.sql, notExpandOnly(stmts[0]))
	}
}

// TestMigrationsExpandOnly: every migration's Up keeps the previous posd
// working on the migrated schema, so migrations run first and the replicas
// restart one by one (deploy/README.md, "Upgrading"). A new NOT NULL
// column needs a DEFAULT; a view may be dropped only to be re-created in the
// same migration (the replicas' prepared statements then answer one 503 and
// the retry works). Constraints added on existing columns, and whether a
// re-created view keeps its columns, are left to review.
func TestMigrationsExpandOnly(t *testing.T) {
	files, err := fs.Glob(db.Schema, "schema/*.sql")
	require.NoError(t, err)
	used := map[string]bool{}
	for _, f := range files {
		b, err := fs.ReadFile(db.Schema, f)
		require.NoError(t, err)
		name := filepath.Base(f)
		stmts := upStatements(string(b))
		require.NotEmpty(t, stmts, name)
		for _, st := range stmts {
			why := notExpandOnly(st)
			if len(why) == 0 {
				continue
			}
			excepted := false
			for key := range expandOnlyExceptions {
				if file, start, _ := strings.Cut(key, ": "); file == name && strings.HasPrefix(st, start) {
					used[key], excepted = true, true
				}
			}
			if !excepted {
				t.Errorf("%s: %q %s; add a column or table instead, and stop using the old one a release later", name, st, strings.Join(why, "; "))
			}
		}
		all := strings.Join(stmts, "\n")
		for _, m := range regexp.MustCompile(`(?i)\bDROP\s+VIEW\s+(?:IF\s+EXISTS\s+)?(\w+)`).FindAllStringSubmatch(all, -1) {
			require.Regexp(t, `(?i)\bCREATE\s+(OR\s+REPLACE\s+)?VIEW\s+`+m[1]+`\b`, all,
				"%s drops the view %s without re-creating it", name, m[1])
		}
	}
	for key := range expandOnlyExceptions {
		require.True(t, used[key], "exception %q matches no statement any more", key)
	}
}
