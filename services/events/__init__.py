"""Recording events: the one path by which anything changes (authorise, check the rules,
append to the log, project into current state, all in one transaction)."""
