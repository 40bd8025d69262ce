"""The gateway's use cases: each takes a request's facts and the ports, and returns what to show."""
