-- Numbers a projection write made in a transaction (TicketStore.update). KEYS: gen, changed,
-- epoch. ARGV: ticket id.
return touch(KEYS[1], KEYS[2], KEYS[3], ARGV[1])
