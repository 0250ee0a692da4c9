-- A booking's live tickets are read by (booking_id, status): ticket codes, emails, the booking's
-- page. With an index on booking_id alone, PostgreSQL's planner, with statistics that lag a fast
-- growing table (a new onsale), ANDs it with the partial index of every valid ticket
-- (tickets_live_seat_unique) and reads all of that index for each booking: 4.3 ms instead of
-- 0.05 ms a read at 50,000 tickets, measured. The wider index answers the read alone.
DROP INDEX tickets_booking;
CREATE INDEX tickets_booking ON tickets (booking_id, status);
