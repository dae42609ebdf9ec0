package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/posd/posd/internal/outbox"
)

func runOutbox(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "dead-letters" && args[0] != "replay") {
		fmt.Fprint(stderr, "Usage: posd outbox dead-letters|replay [flags]\n\n"+
			"  dead-letters   list messages NATS refused for good, set aside so delivery went on\n"+
			"  replay         put one dead letter back into the outbox to be published again\n")
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			return nil
		}
		return errors.New("outbox needs a subcommand: dead-letters or replay")
	}
	if args[0] == "replay" {
		return runOutboxReplay(ctx, args[1:], stdout, stderr)
	}
	return runOutboxDeadLetters(ctx, args[1:], stdout, stderr)
}

func runOutboxDeadLetters(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("outbox dead-letters", "List the outbox messages NATS refused for good (larger than max_payload, an\n"+
		"invalid subject, a permanent JetStream error), oldest first, with the error.", stderr)
	dbURL := databaseURLFlag(fs, ofAny)
	venue := fs.String("venue", "", "only this venue (default: every venue)")
	all := fs.Bool("all", false, "include dead letters already replayed")
	limit := fs.Int("limit", 100, fmt.Sprintf("at most this many (1 to %d)", outbox.MaxDeadLetterList))
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := requireDatabaseURL(*dbURL); err != nil {
		return err
	}
	return withConn(ctx, *dbURL, func(conn *pgx.Conn) error {
		list, err := outbox.ListDeadLetters(ctx, conn, *venue, *all, *limit)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			for _, d := range list {
				if err := enc.Encode(d); err != nil {
					return err
				}
			}
			return nil
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "OUTBOX_ID\tVENUE\tSUBJECT\tTYPE\tBYTES\tFAILED_AT\tREPLAYED_AT\tERROR")
		for _, d := range list {
			replayed := "-"
			if d.ReplayedAt != nil {
				replayed = d.ReplayedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", d.OutboxID, d.Venue, d.Subject, d.Type, d.Bytes,
				d.FailedAt.Format(time.RFC3339), replayed, d.Error)
		}
		return w.Flush()
	})
}

func runOutboxReplay(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("outbox replay", "Put a dead letter back into the outbox, once its cause is fixed (for example\n"+
		"NATS's max_payload raised). It keeps its Nats-Msg-Id; the dead letter stays, marked replayed.", stderr)
	dbURL := databaseURLFlag(fs, ofAny)
	id := fs.Int64("id", 0, "OUTBOX_ID of the dead letter, as listed by posd outbox dead-letters (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *id <= 0 {
		return errors.New("--id is required")
	}
	if err := requireDatabaseURL(*dbURL); err != nil {
		return err
	}
	return withConn(ctx, *dbURL, func(conn *pgx.Conn) error {
		newID, err := outbox.ReplayDeadLetter(ctx, conn, *id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "dead letter %d is back in the outbox as row %d\n", *id, newID)
		return nil
	})
}
