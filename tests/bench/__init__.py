"""`make bench`: figures measured in one run, each against a baseline measured in the same run."""
