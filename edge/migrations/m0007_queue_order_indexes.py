"""Release 0.6: the queue stays as fast with a thousand waiting as with ten.

- ``ticket_waiting_order``: a queue's waiting tickets in calling order (priority first, then sort
  time, then number, as ``edge.core.queue.order_key``), so the next ticket and a ticket's place
  in line are read from the index instead of the whole day;
- ``ticket_day_called``: the day's calls in order (the estimates' pace, the TVs' last calls);
- ``printjob_status``: the printer's pending jobs without reading every job of the day.

Indexes only: a database of the previous release keeps every row as it is.
"""

from __future__ import annotations


def up(db) -> None:
    db.execute_sql(
        'CREATE INDEX IF NOT EXISTS "ticket_waiting_order" ON "ticket" '
        '("day", "queue", "state", "priority" DESC, "sort_time", "number")'
    )
    db.execute_sql('CREATE INDEX IF NOT EXISTS "ticket_day_called" ON "ticket" ("day", "called_at")')
    db.execute_sql('CREATE INDEX IF NOT EXISTS "printjob_status" ON "printjob" ("status")')
