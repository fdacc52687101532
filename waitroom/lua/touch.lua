-- touch: record that waiting visitors polled; each web process sends these in batches.
-- KEYS: the room's keys (see _lib.lua)
-- ARGV[1] now (ms); ARGV[2..] queue numbers seen polling
-- Returns how many were still waiting
local touched = 0
for i = 2, #ARGV do
  if mark_get(ARGV[i]) == WAITING then
    mark_set(ARGV[i], WAITING, NOW_S)
    touched = touched + 1
  end
end
return touched
