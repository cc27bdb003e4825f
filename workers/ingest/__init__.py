"""Fetching a job's source from a URL or a bucket: the guard, the client, the step."""
