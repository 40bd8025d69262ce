"""Pure, synchronous rules of the setup journey: no await, no I/O, no settings."""
