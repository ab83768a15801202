-- IB contract details minTick: the router refuses a price that is not a multiple of it.
-- Filled like every broker field (look-up, harmony), never overwritten.
ALTER TABLE symbol_registry ADD COLUMN ib_min_tick double precision CHECK (ib_min_tick > 0);
