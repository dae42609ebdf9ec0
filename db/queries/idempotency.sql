-- name: GetIdempotency :one
SELECT fingerprint, status, headers, body
FROM idempotency_keys
WHERE venue_id = @venue_id AND device_id = @device_id AND key = @key AND expires_at > @now;

-- ClaimIdempotency is the first statement of a change sent with a key: it
-- fails the transaction when another request with the key is in flight
-- (holding the lock) or has already committed its answer.
-- name: ClaimIdempotency :exec
SELECT posd_assert(pg_try_advisory_xact_lock(hashtextextended(@lock_name::text, 0)), 'idempotency-in-flight'),
       posd_assert(NOT EXISTS (
           SELECT 1 FROM idempotency_keys
           WHERE venue_id = @venue_id AND device_id = @device_id AND key = @key AND expires_at > @now
       ), 'idempotency-answered');

-- name: InsertIdempotency :exec
INSERT INTO idempotency_keys (venue_id, device_id, key, fingerprint, status, headers, body, created_at, expires_at)
VALUES (@venue_id, @device_id, @key, @fingerprint, @status, @headers, @body, @created_at, @expires_at)
ON CONFLICT (venue_id, device_id, key) DO UPDATE
SET fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status, headers = EXCLUDED.headers,
    body = EXCLUDED.body, created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
WHERE idempotency_keys.expires_at <= EXCLUDED.created_at;

-- name: DeleteExpiredIdempotency :execrows
DELETE FROM idempotency_keys WHERE expires_at <= @now;
