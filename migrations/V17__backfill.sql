-- Older history fetched from other servers (/backfill) goes into a room's
-- timeline before its earliest events: stream positions counting down from
-- -1, below every position the event stream hands out, so the /sync
-- stream never meets them and backward pagination reaches them last. A
-- batch takes a block of them and gives the lowest to its oldest event.
CREATE SEQUENCE backfill_stream INCREMENT BY -1 START WITH -1 MAXVALUE -1;
