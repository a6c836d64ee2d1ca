-- Room storage (--storage postgres://...): what core::sqlite_storage keeps
-- in one file per room (documents, tombstones, metadata), in shared tables
-- keyed by room id, so that any node can load any room. Applied at startup
-- by server/pg_room_storage.cpp, versioned apart from the app tables
-- (server/sql/NNN_*.sql) in tlsync_room_schema_migrations.
--
-- States and schemas are the JSON text exactly as the room wrote it (text,
-- not jsonb): a room loads its documents as that text and parses a record
-- only when it is first used, and jsonb would re-encode every record.
-- No foreign keys: a flush of a 10,000-record room would pay a key check per
-- row; rows of a room go together in pg_room_storage's transactions.

CREATE TABLE tlsync_room (
    room_id text PRIMARY KEY,
    document_clock bigint NOT NULL,
    tombstone_history_starts_at_clock bigint NOT NULL,
    schema text NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tlsync_room_document (
    room_id text NOT NULL,
    id text NOT NULL,
    state text NOT NULL,
    last_changed_clock bigint NOT NULL,
    PRIMARY KEY (room_id, id)
);
-- get_changes_since: the documents of a room changed after a clock.
CREATE INDEX tlsync_room_document_clock ON tlsync_room_document (room_id, last_changed_clock);

CREATE TABLE tlsync_room_tombstone (
    room_id text NOT NULL,
    id text NOT NULL,
    clock bigint NOT NULL,
    PRIMARY KEY (room_id, id)
);
-- Pruning (clock < history start) and get_changes_since.
CREATE INDEX tlsync_room_tombstone_clock ON tlsync_room_tombstone (room_id, clock);

-- One row per committed write of a room (a flush, a transaction): which
-- node wrote which clock. Lets a check prove that a room never had two
-- writers at once. Rows older than a day are pruned by the writers.
CREATE TABLE tlsync_room_write (
    room_id text NOT NULL,
    writer text NOT NULL,
    document_clock bigint NOT NULL,
    written_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tlsync_room_write_room ON tlsync_room_write (room_id, written_at);
CREATE INDEX tlsync_room_write_age ON tlsync_room_write (written_at);

-- The state of a room before a schema migration changed its records (what
-- rooms/backup/<room>.<hash>.sqlite is with SQLite): a RoomSnapshot JSON,
-- as PUT /admin/rooms/{id}/snapshot takes it back. Kept until removed by hand.
CREATE TABLE tlsync_room_backup (
    backup_id bigserial PRIMARY KEY,
    room_id text NOT NULL,
    schema_hash text NOT NULL,
    snapshot json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tlsync_room_backup_room ON tlsync_room_backup (room_id);
