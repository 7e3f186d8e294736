"""Where job state lives: Redis (live state, TTL) and MongoDB (durable results)."""
