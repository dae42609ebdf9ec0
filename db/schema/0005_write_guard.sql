-- +goose Up
-- posd_assert raises when ok is false. The write path pipelines BEGIN, its
-- statements and COMMIT in one round trip; an assertion right after the
-- versioned UPDATE aborts the transaction when the UPDATE did not happen, so
-- the COMMIT at the end of the pipeline can never keep a stale write.
-- +goose StatementBegin
CREATE FUNCTION posd_assert(ok boolean, msg text) RETURNS void
    LANGUAGE plpgsql AS $$
BEGIN
    IF ok IS NOT TRUE THEN
        RAISE EXCEPTION '%', msg USING ERRCODE = 'P0001';
    END IF;
END
$$;
-- +goose StatementEnd
GRANT EXECUTE ON FUNCTION posd_assert(boolean, text) TO posd_app;

-- +goose Down
DROP FUNCTION posd_assert(boolean, text);
