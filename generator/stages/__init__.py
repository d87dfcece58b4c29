"""What the plan and aggregate pods run: listing, capacity, quotas, fan-out size, shards and
the aggregate. Never imports Hera: it costs every stage pod's start."""
