-- The app data model the replicator streams to users. Column names are the
-- camelCase the client sees, hence quoted.
--
-- Replica identity decides what a DELETE (and the old side of an UPDATE)
-- carries in the WAL. Routing needs:
--   "user"                 id            -> primary key is enough
--   file                   "ownerId"     -> not in the key: FULL
--   file_state             "userId", "fileId" -> both in the key
--   user_mutation_number   "userId"      -> the key
-- file also needs the old row on UPDATE (published -> unpublished, sharing
-- changes) which FULL provides.

CREATE TABLE "user" (
    id text PRIMARY KEY,
    name text NOT NULL DEFAULT '',
    email text NOT NULL DEFAULT '',
    avatar text NOT NULL DEFAULT '',
    color text NOT NULL DEFAULT '',
    locale text,
    flags text NOT NULL DEFAULT '',
    preferences jsonb,
    "createdAt" bigint NOT NULL,
    "updatedAt" bigint NOT NULL
);

CREATE TABLE file (
    id text PRIMARY KEY,
    "ownerId" text NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    name text NOT NULL DEFAULT '',
    thumbnail text NOT NULL DEFAULT '',
    shared boolean NOT NULL DEFAULT true,
    "sharedLinkType" text NOT NULL DEFAULT 'edit' CHECK ("sharedLinkType" IN ('view', 'edit')),
    published boolean NOT NULL DEFAULT false,
    "lastPublished" bigint NOT NULL DEFAULT 0,
    "publishedSlug" text NOT NULL UNIQUE,
    "isEmpty" boolean NOT NULL DEFAULT true,
    "isDeleted" boolean NOT NULL DEFAULT false,
    "createdAt" bigint NOT NULL,
    "updatedAt" bigint NOT NULL
);
CREATE INDEX file_owner ON file ("ownerId");
ALTER TABLE file REPLICA IDENTITY FULL;

-- A user's relation to a file: the owner's own row, or a guest's.
CREATE TABLE file_state (
    "userId" text NOT NULL REFERENCES "user" (id) ON DELETE CASCADE,
    "fileId" text NOT NULL REFERENCES file (id) ON DELETE CASCADE,
    "isFileOwner" boolean NOT NULL DEFAULT false,
    "isPinned" boolean NOT NULL DEFAULT false,
    "firstVisitAt" bigint,
    "lastVisitAt" bigint,
    "lastEditAt" bigint,
    "lastSessionState" text,
    PRIMARY KEY ("userId", "fileId")
);
CREATE INDEX file_state_file ON file_state ("fileId");

-- Bumped in the transaction of every mutation a user sends; its row change
-- coming back through replication tells the user the mutation committed.
CREATE TABLE user_mutation_number (
    "userId" text PRIMARY KEY REFERENCES "user" (id) ON DELETE CASCADE,
    "mutationNumber" bigint NOT NULL DEFAULT 0
);
