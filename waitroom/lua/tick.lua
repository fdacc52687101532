-- tick: expire what is overdue and admit whoever may come in now.
-- KEYS: the room's keys (see _lib.lua)
-- ARGV[1] now (ms)
-- Returns the number of visitors admitted
return admit_next(config())
