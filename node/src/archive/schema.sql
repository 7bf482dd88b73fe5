-- The archive's tables, created by the sink when it first connects (idempotent). Every row
-- carries `source` (one member's journal: several members may archive into one database).

-- The journal, append-only: the exact bytes each entry's hash covers, and a JSON view of it.
CREATE TABLE IF NOT EXISTS mpc_journal (
    source          TEXT        NOT NULL,
    seq             BIGINT      NOT NULL,
    stream          TEXT        NOT NULL,
    stream_version  BIGINT      NOT NULL,
    event_type      TEXT        NOT NULL,
    schema_version  SMALLINT    NOT NULL,
    recorded_at_ms  BIGINT      NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    payload         BYTEA       NOT NULL,
    event           JSONB       NOT NULL,
    prev_hash       BYTEA       NOT NULL,
    hash            BYTEA       NOT NULL,
    PRIMARY KEY (source, seq)
);
-- The audit trail by time range.
CREATE INDEX IF NOT EXISTS mpc_journal_by_time ON mpc_journal (source, recorded_at, seq);

-- How far the sink got, written in the same transaction as the rows it acknowledges.
CREATE TABLE IF NOT EXISTS mpc_archive_position (
    source      TEXT        PRIMARY KEY,
    seq         BIGINT      NOT NULL,
    hash        BYTEA       NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Read model: a wallet's history, newest first by (source, wallet, seq DESC).
CREATE TABLE IF NOT EXISTS mpc_history (
    source          TEXT        NOT NULL,
    wallet          TEXT        NOT NULL,
    seq             BIGINT      NOT NULL,
    tx              TEXT,
    event_type      TEXT        NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    event           JSONB       NOT NULL,
    PRIMARY KEY (source, wallet, seq)
);

-- Which wallet a transaction belongs to (its later events name only the transaction).
CREATE TABLE IF NOT EXISTS mpc_tx_wallet (
    source  TEXT NOT NULL,
    tx      TEXT NOT NULL,
    wallet  TEXT NOT NULL,
    PRIMARY KEY (source, tx)
);

-- Read model: the last balance observed per wallet and chain.
CREATE TABLE IF NOT EXISTS mpc_balances (
    source      TEXT        NOT NULL,
    wallet      TEXT        NOT NULL,
    chain       TEXT        NOT NULL,
    amount      NUMERIC(40) NOT NULL,
    seq         BIGINT      NOT NULL,
    observed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source, wallet, chain)
);

-- Append-only, even for the table's owner: an UPDATE, DELETE or TRUNCATE of the journal fails.
CREATE OR REPLACE FUNCTION mpc_journal_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mpc_journal is append-only';
END
$$;
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'mpc_journal_append_only') THEN
        CREATE TRIGGER mpc_journal_append_only BEFORE UPDATE OR DELETE ON mpc_journal
            FOR EACH ROW EXECUTE FUNCTION mpc_journal_append_only();
        CREATE TRIGGER mpc_journal_no_truncate BEFORE TRUNCATE ON mpc_journal
            FOR EACH STATEMENT EXECUTE FUNCTION mpc_journal_append_only();
    END IF;
END
$$;
