-- name: InsertOutbox :exec
INSERT INTO outbox (venue_id, subject, msg_id, msg_type, order_id, order_version, payload)
SELECT @venue_id, unnest(@subjects::text[]), unnest(@msg_ids::text[]), unnest(@msg_types::text[]),
       @order_id, @order_version, unnest(@payloads::bytea[]);
