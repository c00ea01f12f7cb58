"""Planned pushes: what the scheduler queues ahead of time, and their last check.

::

    venue_reminders.py  the eve and hour-before reminders of each venue
    deadlines.py        deadline reminders to non-submitters and the overdue list
    digests.py          周汇报/月小结/季通报 digests per cron period
    parts.py            a split push queued part by part, one dedupe key each
    refresh.py          right before sending: is the reason still there? (re-rendered or None)
    overview.py         the plan as ``edubot check-config`` prints it

Every planner takes ``(session, settings, now)``, writes rows through ``enqueue`` with stable
dedupe keys (so running it again adds nothing) and returns how many rows it added.
"""
