-- A store at schema version 1, as OpenMeet Chat 0.1 wrote it.  Never edit:
-- test-store opens it with the current code to check that every later
-- migration keeps the data of a version-1 store readable.
PRAGMA user_version = 1;
BEGIN;
CREATE TABLE kv (
  key   TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
);
CREATE TABLE rooms (
  room_id    TEXT PRIMARY KEY NOT NULL,
  membership TEXT NOT NULL,
  data       TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE room_state (
  room_id    TEXT NOT NULL,
  type       TEXT NOT NULL,
  state_key  TEXT NOT NULL,
  event_json TEXT NOT NULL,
  PRIMARY KEY (room_id, type, state_key)
);
CREATE TABLE timeline (
  room_id    TEXT NOT NULL,
  seq        INTEGER NOT NULL,
  event_id   TEXT NOT NULL,
  event_json TEXT NOT NULL,
  PRIMARY KEY (room_id, seq),
  UNIQUE (room_id, event_id)
);
CREATE TABLE receipts (
  room_id      TEXT NOT NULL,
  receipt_type TEXT NOT NULL,
  user_id      TEXT NOT NULL,
  thread_id    TEXT NOT NULL DEFAULT '',
  event_id     TEXT NOT NULL,
  ts           INTEGER NOT NULL,
  PRIMARY KEY (room_id, receipt_type, user_id, thread_id)
) WITHOUT ROWID;
CREATE TABLE presence (
  user_id TEXT PRIMARY KEY NOT NULL,
  data    TEXT NOT NULL
);
CREATE TABLE outbox (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  room_id      TEXT NOT NULL,
  txn_id       TEXT NOT NULL UNIQUE,
  event_type   TEXT NOT NULL,
  content_json TEXT NOT NULL,
  state        INTEGER NOT NULL DEFAULT 0,
  event_id     TEXT,
  error        TEXT,
  created_ms   INTEGER NOT NULL
);

INSERT INTO kv VALUES ('sync_token', 's72594_4483_1934');
INSERT INTO kv VALUES ('user_id', '@alice:example.org');
INSERT INTO rooms VALUES ('!room:example.org', 'join', '{"prev_batch":"t47-4"}');
INSERT INTO room_state VALUES ('!room:example.org', 'm.room.name', '',
  '{"type":"m.room.name","state_key":"","content":{"name":"Lobby"}}');
INSERT INTO timeline VALUES ('!room:example.org', -1, '$older', '{"event_id":"$older"}');
INSERT INTO timeline VALUES ('!room:example.org', 1, '$newer', '{"event_id":"$newer"}');
INSERT INTO receipts VALUES ('!room:example.org', 'm.read', '@bob:example.org', '', '$newer', 1700000000000);
INSERT INTO presence VALUES ('@bob:example.org', '{"presence":"online"}');
INSERT INTO outbox VALUES (1, '!room:example.org', 'm1700000000000.0', 'm.room.message',
  '{"msgtype":"m.text","body":"queued before the upgrade"}', 3, NULL, 'M_FORBIDDEN', 1700000000000);
-- Entry 2 was sent and removed: its ID must not come back.
UPDATE sqlite_sequence SET seq = 2 WHERE name = 'outbox';
COMMIT;
