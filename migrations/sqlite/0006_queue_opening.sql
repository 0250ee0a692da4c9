-- The waiting room's opening time (joins before it form the pre-queue, shuffled at opening;
-- absent: open from when the room is turned on) and how long an admission pass lasts.
ALTER TABLE shows ADD COLUMN queue_opens_at TEXT;
ALTER TABLE shows ADD COLUMN queue_pass_minutes INT NOT NULL DEFAULT 10
    CHECK (queue_pass_minutes BETWEEN 1 AND 240);
